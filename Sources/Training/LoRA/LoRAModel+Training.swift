import Foundation
import LoRA
import TensorCore

extension LoRAModel {
    /// What the trainer needs from this adapter: PEFT-format saving and the dropout generators' state, so that a
    /// resumed run draws the same dropout masks as an uninterrupted one.
    public func trainerHooks() -> AdapterHooks {
        AdapterHooks(save: { [self] dir in try save(to: dir) },
                     randomState: { [self] in loraLayers.map(\.layer.generator) },
                     restoreRandomState: { [self] states in
                         for ((_, layer), state) in zip(loraLayers, states) { layer.generator = state }
                     })
    }

    /// Gives every LoRA layer its own dropout stream derived from `seed` (layers start with identical generators,
    /// which would drop the same features in every layer).
    public func seedDropout(_ seed: UInt64) {
        for (i, entry) in loraLayers.enumerated() {
            entry.layer.generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i + 1))
        }
    }
}
