import { describe, expect, it } from "vitest";
import { parseLauncherOptions } from "../../scripts/cluster/options.ts";

describe("npm run cluster options", () => {
  it("starts one ZooKeeper server unless --zookeeper-servers 3 asks for an ensemble", () => {
    expect(parseLauncherOptions([])?.zooKeeperServers).toBe(1);
    expect(parseLauncherOptions(["--zookeeper-servers", "3"])?.zooKeeperServers).toBe(3);
    expect(parseLauncherOptions(["--zookeeper-servers", "1"])?.zooKeeperServers).toBe(1);
  });

  it("refuses any other number of ZooKeeper servers, and client ports that overlap the nodes'", () => {
    expect(() => parseLauncherOptions(["--zookeeper-servers", "2"])).toThrow(
      /--zookeeper-servers must be 1 or 3 \(got "2"\)/,
    );
    expect(() =>
      parseLauncherOptions(["--zookeeper-servers", "3", "--zk-port", "8180", "--base-port", "8181"]),
    ).toThrow(/ZooKeeper client ports overlap/);
    expect(parseLauncherOptions(["--zookeeper-servers", "3", "--zk-port", "2181"])?.zkPort).toBe(2181);
  });

  it("runs one MariaDB unless --galera asks for a 3-node Galera cluster, which takes free ports only", () => {
    expect(parseLauncherOptions([])?.galera).toBe(false);
    expect(parseLauncherOptions(["--galera"])?.galera).toBe(true);
    expect(() => parseLauncherOptions(["--galera", "--mysql-port", "3306"])).toThrow(
      /--mysql-port does not go with --galera/,
    );
    expect(parseLauncherOptions(["--mysql-port", "3306"])?.mysqlPort).toBe(3306);
  });
});
