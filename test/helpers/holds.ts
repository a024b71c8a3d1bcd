/**
 * Named places where a call (a repository's, through a decorator on its port) waits until the test releases
 * it: the races a test needs, in the exact interleaving it names.
 */
export class Holds {
  private readonly armed = new Map<string, { enter: () => void; released: Promise<void> }>();

  /** The next call through `name` stops there: `entered` resolves when it arrives, `release` lets it go. */
  arm(name: string): { entered: Promise<void>; release: () => void } {
    let enter = () => {};
    let release = () => {};
    const entered = new Promise<void>((resolve) => {
      enter = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.armed.set(name, { enter, released });
    return { entered, release };
  }

  async pass(name: string): Promise<void> {
    const hold = this.armed.get(name);
    if (!hold) return;
    this.armed.delete(name);
    hold.enter();
    await hold.released;
  }
}
