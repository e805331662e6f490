import Foundation

/// Prints training progress: a redrawn bar on a terminal, plain lines otherwise (CI logs, pipes), plus warnings.
/// `quiet` prints nothing (tests, library use).
public final class ProgressReporter {
    public enum Mode { case automatic, lines, quiet }
    let isTerminal: Bool
    let quiet: Bool
    private var barShown = false

    public init(mode: Mode = .automatic) {
        quiet = mode == .quiet
        isTerminal = mode == .automatic && isatty(STDOUT_FILENO) == 1
    }

    /// A progress update after `step` of `total` updates.
    public func progress(step: Int, total: Int, loss: Double, learningRate: Double, tokensPerSecond: Double, secondsLeft: Double) {
        guard !quiet else { return }
        let eta = Self.duration(secondsLeft)
        if isTerminal {
            let width = 24, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let text = String(format: "\r%@ %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %@\u{1B}[K", bar, step, total, loss,
                              learningRate, tokensPerSecond, eta)
            FileHandle.standardOutput.write(Data(text.utf8))
            barShown = true
        } else {
            print(String(format: "step %d/%d  loss %.4f  lr %.3e  %.0f tok/s  ETA %@", step, total, loss, learningRate, tokensPerSecond, eta))
            fflush(stdout)  // a pipe or file is block-buffered; a log should show each line as it happens
        }
    }

    /// A line that must not be overwritten by the bar (evaluations, checkpoints, warnings).
    public func message(_ text: String) {
        guard !quiet else { return }
        if barShown { FileHandle.standardOutput.write(Data("\n".utf8)); barShown = false }
        print(text)
        fflush(stdout)
    }

    public func warning(_ text: String) { message("warning: \(text)") }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Watches the losses for the two failures users miss: a training loss that collapses to ~0 early (memorised or
/// leaked labels), and eval loss rising while training loss falls (overfitting). Each warning is given once.
public struct LossMonitor {
    public private(set) var warnings: [String] = []
    private var trainLosses: [Double] = []
    private var evals: [(step: Int, loss: Double, trainLoss: Double)] = []
    private var collapseWarned = false, overfitWarned = false

    public init() {}

    /// Records a training loss; returns a warning when it is new.
    public mutating func observe(step: Int, trainLoss: Double, totalSteps: Int) -> String? {
        trainLosses.append(trainLoss)
        if !collapseWarned && trainLoss < 0.01 && step <= max(10, totalSteps / 5) {
            collapseWarned = true
            return record("training loss collapsed to \(String(format: "%.4f", trainLoss)) by step \(step) of \(totalSteps): "
                          + "the model may be memorising, or the labels may leak into the inputs (check `lorakit preprocess --debug`)")
        }
        return nil
    }

    /// Records an evaluation; warns when eval loss rose over two evaluations while the training loss fell.
    public mutating func observe(step: Int, evalLoss: Double) -> String? {
        let recent = trainLosses.suffix(10)
        let train = recent.isEmpty ? .nan : recent.reduce(0, +) / Double(recent.count)
        evals.append((step, evalLoss, train))
        guard !overfitWarned, evals.count >= 3 else { return nil }
        let (a, b, c) = (evals[evals.count - 3], evals[evals.count - 2], evals[evals.count - 1])
        if c.loss > b.loss && b.loss > a.loss && c.trainLoss < b.trainLoss && b.trainLoss < a.trainLoss {
            overfitWarned = true
            return record(String(format: "eval loss rose from %.4f (step %d) to %.4f (step %d) while training loss fell: overfitting; "
                                 + "consider fewer steps, a lower learning rate, or save.save_best", a.loss, a.step, c.loss, c.step))
        }
        return nil
    }

    private mutating func record(_ s: String) -> String { warnings.append(s); return s }
}
