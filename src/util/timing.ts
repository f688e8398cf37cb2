/**
 * Start-up phase marks, in milliseconds since process start
 * (performance.timeOrigin), for `--report-timing` and bench/.
 */
const marks: Record<string, number> = {};

export function mark(name: string): void {
  marks[name] ??= Math.round(performance.now() * 100) / 100;
}

export function timingMarks(): Readonly<Record<string, number>> {
  return marks;
}
