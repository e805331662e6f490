import Foundation
import LoRAKit

/// A request being decoded: its sampler, its text so far, and where its keys/values live — its own cache right
/// after the prompt pass, then a row of the engine's batch cache.
final class ActiveSequence {
    let job: GenerationJob
    /// Internal adapter ids with weights (what the LoRA layers know them by).
    let adapterIDs: [(adapter: String, weight: Float)]
    let promptTokens: Int
    let maxTokens: Int
    var sampler: Sampler
    var streamer: TextStreamer
    var produced: [Int] = []
    /// Every byte of text decoded so far, and how many of them were sent.
    var text: [UInt8] = []
    var sent = 0
    /// Positions in the cache (prompt + generated tokens already fed).
    var length: Int
    /// The token to feed next.
    var lastToken = 0
    /// The request's own cache until it joins the batch cache.
    var ownCache: KVCache?
    /// Its row in the batch cache once it joined.
    var batchRow = -1
    /// The largest batch this request was decoded in.
    var peakBatch = 1
    /// Orders batch rows so that requests with the same adapters sit together (the base model's first).
    let routingKey: String

    init(job: GenerationJob, adapterIDs: [(adapter: String, weight: Float)], promptTokens: Int, maxTokens: Int,
         tokenizer: any Tokenizer, cache: KVCache) {
        self.job = job
        self.adapterIDs = adapterIDs
        routingKey = adapterIDs.map(\.adapter).joined(separator: "\u{1}")
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        sampler = Sampler(job.sampling)
        streamer = TextStreamer(tokenizer: tokenizer)
        length = promptTokens
        ownCache = cache
    }

    /// Takes a sampled token; sends what text is safe to send; returns the finish reason when the request is done.
    func accept(_ token: Int, stopTokens: Set<Int>) -> String? {
        if stopTokens.contains(token) {
            // As Generator: the stop token is not text, but bytes held back for an unfinished character are.
            text += Array(streamer.finish().utf8)
            return flush(final: true, reason: "stop")
        }
        produced.append(token)
        lastToken = token
        text += Array(streamer.append(token).utf8)
        if produced.count >= maxTokens {
            text += Array(streamer.finish().utf8)
            return flush(final: true, reason: "length")
        }
        return flush(final: false, reason: nil)
    }

    /// Sends text up to the first stop string (then finishes), or all of it but a tail that may begin one.
    private func flush(final: Bool, reason: String?) -> String? {
        if let cut = firstStop() {
            send(upTo: cut)
            return "stop"
        }
        if final {
            send(upTo: text.count)
            return reason
        }
        send(upTo: text.count - heldBack())
        return nil
    }

    private func send(upTo end: Int) {
        guard end > sent else { return }
        job.events.yield(.text(String(decoding: text[sent..<end], as: UTF8.self)))
        sent = end
    }

    /// Byte offset of the earliest stop string in the text (searching only where a new match can be).
    private func firstStop() -> Int? {
        var best: Int?
        for stop in job.stop {
            let s = Array(stop.utf8)
            guard !s.isEmpty, text.count >= s.count else { continue }
            var i = max(0, sent - s.count + 1)
            while i + s.count <= text.count {
                if text[i] == s[0] && Array(text[i..<(i + s.count)]) == s { best = min(best ?? i, i); break }
                i += 1
            }
        }
        return best
    }

    /// Length of the longest tail of the text that is a proper prefix of a stop string (not sent yet: the next
    /// token may complete the stop string).
    private func heldBack() -> Int {
        var hold = 0
        for stop in job.stop {
            let s = Array(stop.utf8)
            var k = min(s.count - 1, text.count - sent)
            while k > hold {
                if Array(text[(text.count - k)...]) == Array(s[..<k]) { hold = k; break }
                k -= 1
            }
        }
        return hold
    }
}
