// Progress of a node on a terminal: a bar for the inner steps of the current round and one line
// per finished round. Used by `dtrain start` when stderr is a terminal; otherwise the structured
// logs carry the same events.
import type { RoundReport } from '../node/node.js'

const WIDTH = 30

export class TerminalProgress {
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  step(round: number, step: number, steps: number): void {
    const filled = Math.round((WIDTH * step) / steps)
    this.out.write(
      `\r\x1b[2Kround ${round} train [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${step}/${steps}`,
    )
  }

  phase(round: number, phase: string): void {
    this.out.write(`\r\x1b[2Kround ${round} ${phase}...`)
  }

  round(report: RoundReport): void {
    const p = report.phaseSeconds
    this.out.write(
      `\r\x1b[2Kround ${report.round}: train loss ${report.trainLoss.toFixed(3)}, held-out ${report.evalLoss.toFixed(3)}${report.evalAccuracy === null ? '' : ` (accuracy ${(100 * report.evalAccuracy).toFixed(1)} %)`}, ` +
        `${report.contributors} contributors, ${Math.round(report.tokensPerSecond)} ${report.evalAccuracy === null ? 'tok/s' : 'samples/s'}${report.mfu === null ? '' : ` (MFU ${(100 * report.mfu).toFixed(1)} %)`}, ` +
        `train ${p.train.toFixed(1)}s collect ${p.collect.toFixed(1)}s aggregate ${p.aggregate.toFixed(2)}s, weights ${report.weightsHash.slice(0, 12)}\n`,
    )
  }

  message(line: string): void {
    this.out.write(`\r\x1b[2K${line}\n`)
  }
}
