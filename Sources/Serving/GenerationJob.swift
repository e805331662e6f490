import Foundation
import LoRAKit

/// What the engine reports back to the HTTP handler for one request, in order: text pieces, then one `finished`
/// (or one `failed` before any text).
enum EngineEvent: Sendable {
    case text(String)
    case finished(FinishInfo)
    case failed(ServeError)
}

struct FinishInfo: Sendable {
    /// "stop" (end of turn or a stop string) or "length" (max_tokens reached).
    var reason: String
    var promptTokens: Int
    var completionTokens: Int
    /// The generated token ids (without the stop token).
    var tokens: [Int] = []
    /// The most requests this one was decoded together with (itself included).
    var peakBatch = 1
}

/// One request as the engine sees it. The prompt is rendered and tokenised on the engine thread (the tokenizer
/// keeps an unsynchronised cache), so length errors come back as `failed`.
final class GenerationJob: @unchecked Sendable {
    enum Input {
        case chat([ChatMessage])
        /// Text for /v1/completions (BOS added as the tokenizer's post-processor says), or ready token ids.
        case text(String)
        case tokens([Int])
    }

    let input: Input
    /// Adapter names (public) with each one's weight; empty = the base model.
    let adapters: [(name: String, weight: Float)]
    /// The adapter whose directory may supply the chat template (the one named by `model`).
    let templateAdapter: String?
    let maxTokens: Int?
    let sampling: SamplingOptions
    let stop: [String]
    let events: AsyncStream<EngineEvent>.Continuation
    let submitted = DispatchTime.now().uptimeNanoseconds

    private let lock = NSLock()
    private var _cancelled = false
    /// The client went away: the engine drops the request at its next step.
    var cancelled: Bool {
        get { lock.withLock { _cancelled } }
        set { lock.withLock { _cancelled = newValue } }
    }

    init(input: Input, adapters: [(name: String, weight: Float)], templateAdapter: String?, maxTokens: Int?,
         sampling: SamplingOptions, stop: [String], events: AsyncStream<EngineEvent>.Continuation) {
        self.input = input
        self.adapters = adapters
        self.templateAdapter = templateAdapter
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
        self.events = events
    }
}
