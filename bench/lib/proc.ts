/**
 * What the kernel says about a process: CPU time (utime+stime from
 * /proc/<pid>/stat) and resident memory (VmRSS from /proc/<pid>/status).
 * Sample before and after a measured window and subtract.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

const TICKS = clockTicksPerSecond();

/** CPU-seconds in user and kernel mode the process has used so far; NaN if it is gone. */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces; fields after ")" start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** CPU-seconds (user + system) the process has used so far; NaN if it is gone. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** Resident set size in bytes; NaN if the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The 1-, 5- and 15-minute load averages of the machine. */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
  return [one ?? Number.NaN, five ?? Number.NaN, fifteen ?? Number.NaN];
}

/** CPU-seconds all cores have been busy since boot (user, nice, system, irq, softirq, steal from /proc/stat). */
export function machineBusySeconds(): number {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** CPU-seconds this process used (all threads), from process.cpuUsage(). */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** CPU-seconds of several processes between start() and stop(), plus the highest RSS seen while running. */
export class CpuWindow {
  private readonly startCpu = new Map<string, number>();
  private readonly startSystem = new Map<string, number>();
  private readonly peakRss = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private machineAtStart = 0;

  constructor(private readonly pids: Readonly<Record<string, number>>) {}

  start(sampleRssEveryMs = 500): void {
    this.startedAt = performance.now();
    this.machineAtStart = machineBusySeconds();
    for (const [name, pid] of Object.entries(this.pids)) {
      const times = cpuTimes(pid);
      this.startCpu.set(name, times.user + times.system);
      this.startSystem.set(name, times.system);
      this.peakRss.set(name, rssBytes(pid));
    }
    this.timer = setInterval(() => this.sampleRss(), sampleRssEveryMs);
  }

  /**
   * CPU-seconds used by each process since start(), wall seconds, peak RSS in
   * MiB, and `othersCpu`: CPU-seconds the rest of the machine used meanwhile
   * (other people's test runs on a shared machine) — the honest measure of
   * how clean a run was.
   */
  stop(): {
    wallSeconds: number;
    cpu: Record<string, number>;
    /** The kernel-mode part of `cpu` (syscalls: socket writes, fsync, …). */
    systemCpu: Record<string, number>;
    rssMiB: Record<string, number>;
    othersCpu: number;
  } {
    clearInterval(this.timer);
    const machineBusy = machineBusySeconds() - this.machineAtStart;
    this.sampleRss();
    const cpu: Record<string, number> = {};
    const systemCpu: Record<string, number> = {};
    const rssMiB: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const times = cpuTimes(pid);
      cpu[name] = times.user + times.system - (this.startCpu.get(name) ?? Number.NaN);
      systemCpu[name] = times.system - (this.startSystem.get(name) ?? Number.NaN);
      rssMiB[name] = (this.peakRss.get(name) ?? Number.NaN) / 1024 / 1024;
    }
    const ours = Object.values(cpu).reduce(
      (total, seconds) => total + (Number.isFinite(seconds) ? seconds : 0),
      0,
    );
    return {
      wallSeconds: (performance.now() - this.startedAt) / 1000,
      cpu,
      systemCpu,
      rssMiB,
      othersCpu: Math.max(0, machineBusy - ours),
    };
  }

  private sampleRss(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const rss = rssBytes(pid);
      const peak = this.peakRss.get(name);
      if (Number.isFinite(rss) && (peak === undefined || !(peak >= rss))) this.peakRss.set(name, rss);
    }
  }
}
