import Foundation
import ArchitectureKit
import LoRA
import TensorCore

extension LoRAModel {
    /// What the trainer needs from this adapter: PEFT-format saving and the dropout generators' state (each LoRA
    /// layer's, then the model's own dropout stream), so that a resumed run draws the same masks as an
    /// uninterrupted one.
    public func trainerHooks() -> AdapterHooks {
        let stream = (model as? ModelDropout)?.dropoutStream
        return AdapterHooks(save: { [self] dir in try save(to: dir) },
                            randomState: { [self] in loraLayers.map(\.layer.generator) + (stream.map { [$0.generator] } ?? []) },
                            restoreRandomState: { [self] states in
                                let layers = loraLayers
                                for ((_, layer), state) in zip(layers, states) { layer.generator = state }
                                if let stream, states.count == layers.count + 1 { stream.generator = states[layers.count] }
                            })
    }

    /// Gives every LoRA layer its own dropout stream derived from `seed` (layers start with identical generators,
    /// which would drop the same features in every layer), and the model's own dropout another.
    public func seedDropout(_ seed: UInt64) {
        let layers = loraLayers
        for (i, entry) in layers.enumerated() {
            entry.layer.generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i + 1))
        }
        (model as? ModelDropout)?.dropoutStream.generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(layers.count + 1))
    }
}
