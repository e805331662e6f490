import XCTest
import LoRAKit

final class OptimizerTests: XCTestCase {
    /// Expected values: PyTorch's AdamW update (torch/optim/adamw.py, single-tensor path) evaluated in float64 by
    /// python3 for lr 1e-3, weight_decay 0.01, default betas/eps, two steps. Tolerance 1e-6 absolute (float32 math).
    func testAdamWTwoStepsMatchPyTorchFormula() {
        let p = Tensor([1.0, -2.0, 0.5], shape: [3], requiresGrad: true)
        let adam = AdamW(parameters: [("w", p)], hyperparameters: .init(weightDecay: 0.01))
        p.grad = Tensor([0.1, -0.2, 0.3], shape: [3])
        adam.step(learningRate: 1e-3)
        for (a, e) in zip(p.scalars, [0.9989900001, -1.99898000005, 0.49899500003333336]) { XCTAssertEqual(Double(a), e, accuracy: 1e-6) }
        p.grad = Tensor([-0.4, 0.5, 0.05], shape: [3])
        adam.step(learningRate: 1e-3)
        for (a, e) in zip(p.scalars, [0.9995395136748504, -1.999402225502172, 0.49820668277150576]) { XCTAssertEqual(Double(a), e, accuracy: 1e-6) }
        XCTAssertEqual(adam.stepCount, 2)
    }

    /// A parameter without a gradient is left alone (PyTorch skips it).
    func testAdamWSkipsParametersWithoutGradient() {
        let p = Tensor([1, 2], shape: [2], requiresGrad: true)
        AdamW(parameters: [("w", p)], hyperparameters: .init(weightDecay: 0.1)).step(learningRate: 0.1)
        XCTAssertEqual(p.scalars, [1, 2])
    }

    /// clip_grad_norm_: gradients [3, 4] and [12] have global norm 13; with max_norm 1 each is scaled by
    /// 1 / (13 + 1e-6). Hand-computed; tolerance 1e-6.
    func testClipGradNormScalesByGlobalNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        a.grad = Tensor([3, 4], shape: [2])
        b.grad = Tensor([12], shape: [1])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 13, accuracy: 1e-6)
        let s = 1 / (13 + 1e-6)
        XCTAssertEqual(Double(a.grad!.scalars[0]), 3 * s, accuracy: 1e-6)
        XCTAssertEqual(Double(a.grad!.scalars[1]), 4 * s, accuracy: 1e-6)
        XCTAssertEqual(Double(b.grad!.scalars[0]), 12 * s, accuracy: 1e-6)
        // Below the threshold nothing changes.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(Double(b.grad!.scalars[0]), 12 * s, accuracy: 1e-6)
    }

    /// transformers' get_*_schedule_with_warmup lambdas, evaluated by hand for warmup 2, 10 steps.
    /// Tolerance 1e-12 (the same Double formulas).
    func testSchedulesMatchTransformers() {
        let w = 2, n = 10
        XCTAssertEqual(LearningRateSchedule.linear.multiplier(step: 0, warmupSteps: w, totalSteps: n), 0)
        XCTAssertEqual(LearningRateSchedule.linear.multiplier(step: 1, warmupSteps: w, totalSteps: n), 0.5)
        XCTAssertEqual(LearningRateSchedule.linear.multiplier(step: 2, warmupSteps: w, totalSteps: n), 1)
        XCTAssertEqual(LearningRateSchedule.linear.multiplier(step: 6, warmupSteps: w, totalSteps: n), 0.5)
        XCTAssertEqual(LearningRateSchedule.linear.multiplier(step: 10, warmupSteps: w, totalSteps: n), 0)
        XCTAssertEqual(LearningRateSchedule.cosine.multiplier(step: 4, warmupSteps: w, totalSteps: n), 0.5 * (1 + cos(Double.pi / 4)), accuracy: 1e-12)
        XCTAssertEqual(LearningRateSchedule.cosine.multiplier(step: 6, warmupSteps: w, totalSteps: n), 0.5, accuracy: 1e-12)
        XCTAssertEqual(LearningRateSchedule.constant.multiplier(step: 1, warmupSteps: w, totalSteps: n), 0.5)
        XCTAssertEqual(LearningRateSchedule.constant.multiplier(step: 9, warmupSteps: w, totalSteps: n), 1)
        // get_warmup_steps: ceil(ratio × total).
        XCTAssertEqual(LearningRateSchedule.warmupSteps(steps: nil, ratio: 0.15, totalSteps: 10), 2)
        XCTAssertEqual(LearningRateSchedule.warmupSteps(steps: 3, ratio: 0.5, totalSteps: 10), 3)
    }
}
