/**
 * Simulated time for the twin that a test moves forward in jumps, and that also flows in real time between
 * jumps (reports need time to complete, timeouts need time to pass).
 */
export class DrivenClock {
  private simulated: number;
  private anchor = Date.now();

  constructor(start: number) {
    this.simulated = start;
  }

  now = () => this.simulated + (Date.now() - this.anchor);

  set(ms: number) {
    this.simulated = ms;
    this.anchor = Date.now();
  }
}
