/// Inverted dropout: zeroes each element with probability p and scales survivors by 1/(1−p), as torch does in
/// training mode. The mask comes from the caller's seeded generator, so a run replays exactly; inside a
/// checkpointed block the recomputation draws the mask of the first run (`RandomReplay`).
extension Tensor {
    public func dropout(_ p: Float, generator: inout SeededGenerator) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout probability \(p) must be in [0, 1)")
        if p == 0 { return self }
        let mask = Tensor(uninitialized: shape)
        let keep = 1 / (1 - p)
        func draw(_ g: inout SeededGenerator) {
            for i in 0..<count { mask.data[i] = g.nextUniform() < p ? 0 : keep }
        }
        if var replayed = RandomReplay.current?.generator(for: generator) { draw(&replayed) } else { draw(&generator) }
        return GradMode.withoutGrad { self * mask }.recording("dropout", [self]) { g in
            [GradMode.withoutGrad { g * mask }]
        }
    }
}
