import Foundation

/// transformers' get_{constant,linear,cosine}_schedule_with_warmup: the multiplier of the base learning rate at
/// optimizer step `step` (0-based: the first update uses step 0, so with warmup it uses a learning rate of 0,
/// exactly as transformers' Trainer does because it calls `scheduler.step()` after `optimizer.step()`).
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    case constant, linear, cosine

    public func multiplier(step: Int, warmupSteps: Int, totalSteps: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        switch self {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            // num_cycles = 0.5: half a cosine from 1 down to 0.
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
        }
    }

    /// transformers' `get_warmup_steps`: an explicit count wins, else ceil(ratio × total).
    public static func warmupSteps(steps: Int?, ratio: Double?, totalSteps: Int) -> Int {
        if let steps, steps > 0 { return steps }
        return Int((Double(totalSteps) * (ratio ?? 0)).rounded(.up))
    }
}
