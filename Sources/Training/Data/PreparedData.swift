import Foundation
import Tokenizers

/// Datasets read, filtered, formatted, tokenized and masked — with every count a user needs to see that no row
/// disappeared silently.
public struct PreparedData {
    public var train: [TokenizedExample]
    public var validation: [TokenizedExample]
    public var skippedBadLines: [JSONLError]
    public var filteredOut: Int
    public var truncated: Int
    /// Examples dropped because no label survived masking and truncation.
    public var withoutLabels: Int

    public init(train: [TokenizedExample], validation: [TokenizedExample], skippedBadLines: [JSONLError] = [], filteredOut: Int = 0,
                truncated: Int = 0, withoutLabels: Int = 0) {
        self.train = train
        self.validation = validation
        self.skippedBadLines = skippedBadLines
        self.filteredOut = filteredOut
        self.truncated = truncated
        self.withoutLabels = withoutLabels
    }

    /// One line summarising the counts.
    public var summary: String {
        var parts = ["\(train.count) training and \(validation.count) validation examples"]
        if filteredOut > 0 { parts.append("\(filteredOut) rows filtered out") }
        if !skippedBadLines.isEmpty {
            parts.append("\(skippedBadLines.count) malformed lines skipped (first: \(skippedBadLines[0]))")
        }
        if truncated > 0 { parts.append("\(truncated) truncated to max_seq_length") }
        if withoutLabels > 0 { parts.append("\(withoutLabels) dropped with no trainable token left") }
        return parts.joined(separator: ", ")
    }

    /// Reads `datasets` (validation split drawn with `seed`), formats rows with `format`, tokenizes, masks per
    /// `masking` and truncates to `maxLength`.
    public static func prepare(_ datasets: [DatasetSpec], seed: UInt64, tokenizer: any Tokenizer, format: PromptFormat,
                               masking: LabelMasking, maxLength: Int, classNames: [String] = []) throws -> PreparedData {
        let rows = try LoadedRows.load(datasets, seed: seed)
        let formatter = ExampleFormatter(format: format, classNames: classNames)
        let encoder = ExampleTokenizer(tokenizer: tokenizer, masking: masking, maxLength: maxLength)
        var truncated = 0, withoutLabels = 0
        func tokenize(_ rows: [DatasetRow]) throws -> [TokenizedExample] {
            try rows.compactMap { row in
                let (e, cut) = encoder.tokenize(try formatter.format(row))
                if cut { truncated += 1 }
                if e.trainedTokenCount == 0 { withoutLabels += 1; return nil }
                return e
            }
        }
        return PreparedData(train: try tokenize(rows.train), validation: try tokenize(rows.validation), skippedBadLines: rows.skippedBadLines,
                            filteredOut: rows.filteredOut, truncated: truncated, withoutLabels: withoutLabels)
    }
}
