/**
 * A value one startup phase needs from a later one: the cycles of a node's
 * wiring (engines ↔ the serving-node routing that reaches them, the binding watch ↔ the
 * services that end bindings) are closed in one place, by name. Reading it
 * before it is set is a wiring bug and says which value was missing.
 */
export class Late<T> {
  private value: T | undefined;
  private isSet = false;

  constructor(private readonly name: string) {}

  set(value: T): void {
    if (this.isSet) throw new Error(`Startup wiring: ${this.name} was set twice.`);
    this.value = value;
    this.isSet = true;
  }

  get(): T {
    if (!this.isSet) throw new Error(`Startup wiring: ${this.name} was read before it was built.`);
    return this.value as T;
  }
}
