import CYaml

/// Limits checked on a YAML text before Yams composes it, from libyaml's event stream (which keeps its own stacks
/// on the heap, so it is safe on any input):
/// - nesting depth: Yams composes, and RecipeNode converts, recursively, so a 100k-deep `[[[…` or `- - - …` would
///   overflow the stack (SIGSEGV);
/// - alias expansion: an alias is a reference while composing but becomes a copy when the tree is converted, so
///   nine anchors that each repeat the previous one ten times ("billion laughs") would grow to 10⁹ nodes.
/// A recipe is a few hundred nodes, so both limits are far above anything a real one needs.
public enum YAMLLimits {
    public static let maximumDepth = 64
    public static let maximumNodes = 100_000

    /// Throws a RecipeError at the offending line when `text` nests deeper than `maximumDepth` or would expand
    /// to more than `maximumNodes` nodes. YAML syntax errors are left for Yams to report.
    public static func check(_ text: String, file: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        var utf8 = Array(text.utf8)
        try utf8.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var anchors: [String: Int] = [:]
            // Open collections: node count so far and the anchor to record when it closes.
            var open: [(count: Int, anchor: String?)] = []
            var total = 0
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1, column = Int(event.start_mark.column) + 1
                func fail(_ message: String) -> RecipeError {
                    RecipeError(file: file, line: line, column: column, path: "", message: message)
                }
                func name(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                    p.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                }
                // Adds one finished node of `size` expanded nodes to its parent (or to the document).
                func add(_ size: Int) throws {
                    if open.isEmpty {
                        total = total.addingReportingOverflow(size).partialValue
                    } else {
                        open[open.count - 1].count = min(open[open.count - 1].count + size, Int.max / 2)
                    }
                    if size > maximumNodes || total > maximumNodes {
                        throw fail("aliases expand to more than \(maximumNodes) YAML nodes (an alias repeats its "
                                   + "anchor's whole value); a recipe needs far fewer: remove the repeated aliases")
                    }
                }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_SCALAR_EVENT:
                    if let anchor = name(event.data.scalar.anchor) { anchors[anchor] = 1 }
                    try add(1)
                case YAML_ALIAS_EVENT:
                    // An undefined alias is Yams's error to report; count it as one node.
                    try add(name(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1)
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    guard open.count < maximumDepth else {
                        throw fail("YAML nested more than \(maximumDepth) levels deep; a recipe needs only a few")
                    }
                    let anchor = event.type == YAML_SEQUENCE_START_EVENT ? name(event.data.sequence_start.anchor)
                        : name(event.data.mapping_start.anchor)
                    open.append((1, anchor))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let closed = open.popLast() else { return }
                    if let anchor = closed.anchor { anchors[anchor] = closed.count }
                    try add(closed.count)
                default:
                    break
                }
            }
        }
    }
}
