import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit plugins`: the registered architectures, where each came from, and their default LoRA targets.
struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List registered architectures (built-in, LORAKIT_PLUGINS, declarations).")

    func run() {
        let r = ArchitectureRegistry.shared
        for e in r.entries {
            print("\(e.plugin.name.padding(toLength: 10, withPad: " ", startingAt: 0)) model_type \(e.plugin.modelTypes.joined(separator: ", ")); "
                  + "targets \(e.plugin.defaultTargetModules.joined(separator: ", ")); from \(e.origin)")
        }
        for d in r.declarations {
            print("\(d.name.padding(toLength: 10, withPad: " ", startingAt: 0)) model_type \(d.modelTypes.joined(separator: ", ")); "
                  + "declared on \(d.base); from \(d.origin)")
        }
    }
}
