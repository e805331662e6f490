import Foundation
import LoRAKit

/// Continuous batching over one base model and many LoRA adapters, on one thread that owns the model.
///
/// Each loop: run admin commands (adapter load/unload) between steps, admit waiting requests (their prompts packed
/// into one prompt pass, logits at each prompt's last token only, each prompt keeping its slice of the keys and
/// values), then one decode step for every running request at once: one forward over all rows, so each base
/// projection is one GEMM over the batch, while each LoRA layer adds every adapter's delta to its own rows only
/// (`LoRARowRouting`). The batch's KV cache has room to grow, so a step writes its token in place. A request that
/// arrives mid-generation joins at the next step.
final class InferenceEngine: @unchecked Sendable {
    let loaded: LoadedModel
    let tokenizer: any Tokenizer
    let stopTokens: Set<Int>
    let layers: Int
    let contextLength: Int
    let maxBatch: Int
    let maxQueue: Int
    let maxLoadedAdapters: Int
    let catalog: AdapterCatalog
    let metrics: ServeMetrics
    private let baseTemplate: ChatTemplate
    private let specialTokens: [String: String]

    // Shared with HTTP handlers, under `condition`.
    private let condition = NSCondition()
    private var pending: [GenerationJob] = []
    private var commands: [() -> Void] = []
    private var stopping = false
    private var finishedRunning = false

    // Engine thread only.
    private let routing = LoRARowRouting()
    private struct Resident { var id: String; var template: ChatTemplate?; var lastUsed: UInt64 }
    private var resident: [String: Resident] = [:]
    private var references: [String: Int] = [:]
    private var retired: Set<String> = []
    private var nextID = 0
    private var tick: UInt64 = 0
    private var active: [ActiveSequence] = []
    private var batch: KVCache?
    private var batchWidth = 0
    /// Positions each row of the batch cache has room for (≥ batchWidth + 1 before a step).
    private var batchCapacity = 0
    private var batchDirty = false
    private let profile = StepProfile()

    init(loaded: LoadedModel, options: ServeOptions, catalog: AdapterCatalog, metrics: ServeMetrics) throws {
        self.loaded = loaded
        tokenizer = try loaded.makeTokenizer()
        stopTokens = loaded.stopTokenIDs(tokenizer)
        layers = loaded.layerCount   // the model sizes its own cache (GPT-2 says n_layer)
        contextLength = try loaded.config.int("max_position_embeddings", default: 2048)
        maxBatch = max(1, options.maxBatch)
        maxQueue = max(0, options.maxQueue)
        maxLoadedAdapters = max(1, options.maxLoadedAdapters)
        self.catalog = catalog
        self.metrics = metrics
        baseTemplate = try loaded.chatTemplate()
        specialTokens = loaded.specialTokenStrings(tokenizer)
    }

    // MARK: - Interface for HTTP handlers (any thread)

    /// Queues a request; false when the queue is full (the caller answers 429) or the server is stopping.
    func submit(_ job: GenerationJob) -> Bool { submit([job]) }

    /// Queues several requests at once: the engine admits them in the same loop, so (up to --max-batch) they
    /// decode in one batch.
    func submit(_ jobs: [GenerationJob]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping, pending.count + jobs.count <= maxQueue else { return false }
        pending += jobs
        metrics.queueDepth.set(Double(pending.count))
        condition.signal()
        return true
    }

    /// Runs `body` on the engine thread between two steps (the model is never touched while it computes).
    func perform<T: Sendable>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            condition.lock()
            guard !finishedRunning else {
                condition.unlock()
                continuation.resume(throwing: ServeError(status: 503, "the server is shutting down", type: "server_error"))
                return
            }
            commands.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    private var started = false

    /// Starts the engine thread (once).
    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in loop() }
        thread.stackSize = 16 << 20
        thread.name = "lorakit-engine"
        thread.start()
    }

    /// Stops admitting new requests; the loop ends once queued and running ones are done. Returns when it ended.
    func drain() {
        condition.lock()
        stopping = true
        condition.signal()
        while started && !finishedRunning { condition.wait() }
        condition.unlock()
    }

    // MARK: - The loop

    private func loop() {
        profile.start()
        while true {
            profile.mark(.other)
            condition.lock()
            while pending.isEmpty && commands.isEmpty && active.isEmpty && !stopping { condition.wait() }
            profile.mark(.idle)
            if stopping && pending.isEmpty && commands.isEmpty && active.isEmpty {
                finishedRunning = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let work = commands
            commands = []
            let admitted = Array(pending.prefix(max(0, maxBatch - active.count)))
            pending.removeFirst(admitted.count)
            metrics.queueDepth.set(Double(pending.count))
            condition.unlock()

            for command in work { command() }
            GradMode.withoutGrad {
                admit(admitted)
                profile.mark(.prefill)
                dropCancelled()
                if !active.isEmpty { decodeStep() }
            }
            metrics.batchSize.set(Double(active.count))
        }
    }

    /// A request checked and ready for its prompt pass (its adapters are referenced).
    private struct Prepared {
        var job: GenerationJob
        var ids: [(adapter: String, weight: Float)]
        var prompt: [Int]
        var maxTokens: Int
        var key: String { ids.map(\.adapter).joined(separator: "\u{1}") }
    }

    /// Most prompt tokens packed into one prompt pass (a longer prompt runs alone): bounds the time running
    /// requests wait for their next token while newcomers' prompts are read.
    static let packTokens = 512

    /// Admits newly arrived requests: their prompts go through the model packed into one row (each prompt its own
    /// segment with positions from 0, so no prompt sees another), with logits at each prompt's last token only;
    /// each request then owns its slice of the keys/values until it joins the batch. A request whose prompt or
    /// adapters fail is answered with the error and the others go on.
    private func admit(_ jobs: [GenerationJob]) {
        var ready: [Prepared] = []
        for job in jobs { if let p = prepare(job) { ready.append(p) } }
        // One adapter's prompts side by side: each LoRA layer then runs one shrink and one expand per adapter.
        ready = ready.enumerated().sorted { l, r in
            let (a, b) = (l.element.key, r.element.key)
            return a != b ? a < b : l.offset < r.offset
        }.map(\.element)
        // Packing needs positions and segment ids honoured, which the decoder scaffold does.
        let packs = loaded.model is DecoderModel
        var pass: [Prepared] = []
        var tokens = 0
        for p in ready {
            if !pass.isEmpty && (!packs || tokens + p.prompt.count > Self.packTokens) {
                prefill(pass)
                (pass, tokens) = ([], 0)
            }
            pass.append(p)
            tokens += p.prompt.count
        }
        if !pass.isEmpty { prefill(pass) }
    }

    private func prepare(_ job: GenerationJob) -> Prepared? {
        if job.cancelled { job.events.finish(); return nil }
        var acquired: [String] = []
        do {
            var ids: [(adapter: String, weight: Float)] = []
            for (name, weight) in job.adapters {
                let id = try residentID(name)
                references[id, default: 0] += 1
                acquired.append(id)
                ids.append((id, weight))
            }
            let prompt = try promptIDs(job)
            let maxTokens = job.maxTokens ?? (contextLength - prompt.count)
            guard prompt.count + maxTokens <= contextLength else {
                throw ServeError.badRequest("This model's maximum context length is \(contextLength) tokens. However, you requested \(prompt.count + maxTokens) tokens (\(prompt.count) in the messages, \(maxTokens) in the completion). Please reduce the length of the messages or completion.",
                                            param: "max_tokens", code: "context_length_exceeded")
            }
            return Prepared(job: job, ids: ids, prompt: prompt, maxTokens: maxTokens)
        } catch {
            for id in acquired { release(id) }
            let e = error as? ServeError ?? ServeError(status: 500, "\(error)", type: "server_error")
            job.events.yield(.failed(e))
            job.events.finish()
            return nil
        }
    }

    /// One forward over the prompts of `pass` packed into one row; samples each one's first token.
    private func prefill(_ pass: [Prepared]) {
        let counts = pass.map(\.prompt.count)
        let offsets = counts.reduce(into: [0]) { $0.append($0.last! + $1) }
        let total = offsets.last!
        let ends = pass.indices.map { offsets[$0 + 1] - 1 }
        let cache = KVCache(layers: layers)
        var input = ModelInput(inputIDs: IntTensor(pass.flatMap(\.prompt), shape: [1, total]), cache: cache, logitRows: ends)
        if pass.count > 1 {
            input.positionIDs = IntTensor(counts.flatMap { 0..<$0 }, shape: [1, total])
            input.segmentIDs = IntTensor(counts.enumerated().flatMap { i, n in Array(repeating: i, count: n) }, shape: [1, total])
        }
        routing.route(pass.map(\.ids), tokens: counts)
        let logits = loaded.model.forward(input)
        let v = logits.lastDim
        for (i, p) in pass.enumerated() {
            let own = pass.count == 1 ? cache : cache.slice(positions: offsets[i]..<offsets[i + 1])
            let seq = ActiveSequence(job: p.job, adapterIDs: p.ids, promptTokens: p.prompt.count, maxTokens: p.maxTokens,
                                     tokenizer: tokenizer, cache: own)
            metrics.promptTokens.increment(by: Int64(p.prompt.count))
            // (count, vocab) from a model that honours logitRows, else (1, T, vocab).
            let row = logits.rank == 2 ? logits.data + i * v : logits.data + ends[i] * v
            let token = seq.sampler.next(UnsafeBufferPointer(start: row, count: v))
            if let reason = seq.accept(token, stopTokens: stopTokens) { finish(seq, reason) } else {
                active.append(seq)
                batchDirty = true
            }
        }
    }

    private func promptIDs(_ job: GenerationJob) throws -> [Int] {
        let ids: [Int]
        switch job.input {
        case .chat(let messages):
            let template = job.templateAdapter.flatMap { resident[$0]?.template } ?? baseTemplate
            let text: String
            do { text = try template.render(messages: messages, addGenerationPrompt: true, specialTokens: specialTokens) }
            catch { throw ServeError.badRequest("the chat template rejected these messages: \(error)", param: "messages") }
            ids = tokenizer.encode(text, addSpecialTokens: false)
        case .text(let text):
            ids = tokenizer.encode(text, addSpecialTokens: true)
        case .tokens(let tokens):
            let vocabulary = tokenizer.vocabularySize
            if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw ServeError.badRequest("token id \(bad) is outside the vocabulary (0..<\(vocabulary))", param: "prompt")
            }
            ids = tokens
        }
        guard !ids.isEmpty else { throw ServeError.badRequest("the prompt is empty", param: "prompt") }
        guard ids.count < contextLength else {
            throw ServeError.badRequest("This model's maximum context length is \(contextLength) tokens. However, your prompt has \(ids.count) tokens.",
                                        param: "messages", code: "context_length_exceeded")
        }
        return ids
    }

    private func dropCancelled() {
        let gone = active.filter { $0.job.cancelled }
        guard !gone.isEmpty else { return }
        active.removeAll { $0.job.cancelled }
        for seq in gone {
            for (id, _) in seq.adapterIDs { release(id) }
            seq.job.events.finish()
        }
        batchDirty = true
    }

    /// One token for every running request: inputs (B, 1), the batch cache left-padded to a common width with a
    /// key mask hiding each row's padding, positions per row.
    private func decodeStep() {
        profile.mark(.other)
        if batchDirty || batchWidth + 1 > batchCapacity { rebuildBatch() }
        profile.mark(.rebuild)
        let b = active.count
        var mask: [Int32] = []
        mask.reserveCapacity(b * batchCapacity)
        for seq in active {
            mask += Array(repeating: 0, count: batchWidth - seq.length) + Array(repeating: 1, count: seq.length + 1)
                + Array(repeating: 0, count: batchCapacity - batchWidth - 1)
        }
        let input = ModelInput(inputIDs: IntTensor(active.map(\.lastToken), shape: [b, 1]),
                               attentionMask: IntTensor(mask, shape: [b, batchCapacity]),
                               positionIDs: IntTensor(active.map(\.length), shape: [b, 1]), cache: batch)
        routing.route(active.map(\.adapterIDs))
        metrics.stepBatchSize.record(Double(b))
        profile.mark(.prepare)
        let logits = loaded.model.forward(input)
        profile.mark(.forward)
        batchWidth += 1
        batch!.filledLength = batchWidth
        let v = logits.lastDim
        var done: [(ActiveSequence, String)] = []
        for (row, seq) in active.enumerated() {
            seq.length += 1
            seq.peakBatch = max(seq.peakBatch, b)
            let token = seq.sampler.next(UnsafeBufferPointer(start: logits.data + row * v, count: v))
            if let reason = seq.accept(token, stopTokens: stopTokens) { done.append((seq, reason)) }
        }
        if !done.isEmpty {
            active.removeAll { seq in done.contains { $0.0 === seq } }
            for (seq, reason) in done { finish(seq, reason) }
            batchDirty = true
        }
        profile.mark(.sample)
        profile.step(batch: b)
    }

    /// Lays every running request's keys/values out as rows of one cache, right-aligned to the longest, with room
    /// for as many new positions again (at least 64): each decode step then writes its token in place
    /// (`KVCache.filledLength`), and the cache is laid out again only when the batch changes or the room is used up.
    private func rebuildBatch() {
        guard !active.isEmpty else { batch = nil; batchWidth = 0; batchCapacity = 0; batchDirty = false; return }
        // Rows of one adapter side by side: each LoRA layer then runs one shrink and one expand per adapter.
        active = active.enumerated().sorted { l, r in
            let (a, b) = (l.element.routingKey, r.element.routingKey)
            return a != b ? a < b : l.offset < r.offset
        }.map(\.element)
        let width = active.map(\.length).max()!
        let capacity = min(width + max(64, width), contextLength)
        let fresh = KVCache(layers: layers)
        for layer in 0..<layers {
            for keys in [true, false] {
                func source(_ seq: ActiveSequence) -> (Tensor, Int, Int) {
                    if let own = seq.ownCache { return ((keys ? own.keys : own.values)[layer]!, 0, 0) }
                    return ((keys ? batch!.keys : batch!.values)[layer]!, seq.batchRow, batchWidth - seq.length)
                }
                let sample = source(active[0]).0
                let (heads, dim) = (sample.shape[2], sample.shape[3])
                let inner = heads * dim
                // Zeros: the attention weighs positions not written yet by 0, and 0 · NaN garbage would be NaN.
                let out = Tensor(zeros: [active.count, capacity, heads, dim])
                for (row, seq) in active.enumerated() {
                    let (src, srcRow, start) = source(seq)
                    let srcWidth = src.shape[1]
                    (out.data + (row * capacity + width - seq.length) * inner)
                        .update(from: src.data + (srcRow * srcWidth + start) * inner, count: seq.length * inner)
                }
                if keys { fresh.keys[layer] = out } else { fresh.values[layer] = out }
            }
        }
        for (row, seq) in active.enumerated() {
            seq.batchRow = row
            seq.ownCache = nil
        }
        fresh.filledLength = width
        batch = fresh
        batchWidth = width
        batchCapacity = capacity
        batchDirty = false
    }

    private func finish(_ seq: ActiveSequence, _ reason: String) {
        for (id, _) in seq.adapterIDs { release(id) }
        metrics.completionTokens.increment(by: Int64(seq.produced.count))
        seq.job.events.yield(.finished(FinishInfo(reason: reason, promptTokens: seq.promptTokens,
                                                  completionTokens: seq.produced.count, tokens: seq.produced,
                                                  peakBatch: seq.peakBatch)))
        seq.job.events.finish()
    }

    // MARK: - Adapters (engine thread)

    /// The internal id of adapter `name`, loading it from its directory first if it is known but not resident.
    private func residentID(_ name: String) throws -> String {
        tick += 1
        if var r = resident[name] {
            r.lastUsed = tick
            resident[name] = r
            return r.id
        }
        guard let path = catalog.path(name) else { throw ServeError.modelNotFound(name) }
        try loadAdapter(name: name, path: path)
        return resident[name]!.id
    }

    /// Loads (or replaces) adapter `name` from a PEFT directory. Atomic: on any error the model holds exactly the
    /// adapters it held before. Returns the seconds it took.
    @discardableResult
    func loadAdapter(name: String, path: String) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        let dir = URL(fileURLWithPath: path)
        let configURL = dir.appendingPathComponent("adapter_config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw ServeError.badRequest("\(path) has no adapter_config.json", param: "lora_path")
        }
        let config: LoRAConfig
        do { config = try LoRAConfig(contentsOf: configURL) }
        catch { throw ServeError.badRequest("\(configURL.path): \(error)", param: "lora_path") }
        try Self.checkServable(config, path: path)
        let id = "serve\(nextID)"
        nextID += 1
        do {
            try routing.loadAdapter(from: dir, as: id, into: loaded.model, plugin: loaded.plugin)
        } catch {
            throw ServeError.badRequest("adapter '\(name)' does not fit the base model (\(loaded.plugin.name)): \(error)", param: "lora_path")
        }
        // Evict only once the new adapter is known good, so a broken file never costs a resident one.
        if resident[name] == nil && resident.count >= maxLoadedAdapters {
            do { try evictOne() } catch { purge(id); throw error }
        }
        tick += 1
        let template = Self.chatTemplate(in: dir)
        if let old = resident[name] { retire(old.id) }
        resident[name] = Resident(id: id, template: template, lastUsed: tick)
        catalog.register(name, path: path)
        catalog.setResident(name, true)
        metrics.loadedAdapters.set(Double(resident.count))
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Forgets adapter `name`. Requests already using it finish with it; its weights go when the last one ends.
    func unloadAdapter(name: String) throws {
        guard catalog.path(name) != nil || resident[name] != nil else { throw ServeError.modelNotFound(name) }
        if let r = resident[name] { retire(r.id) }
        resident[name] = nil
        catalog.remove(name)
        metrics.loadedAdapters.set(Double(resident.count))
    }

    /// Adapters that per-row batching cannot serve next to others are refused with the reason.
    static func checkServable(_ config: LoRAConfig, path: String) throws {
        func refuse(_ why: String) -> ServeError { .badRequest("\(path): \(why)", param: "lora_path") }
        if let task = config.taskType, task != "CAUSAL_LM" { throw refuse("task_type \(task); serve runs causal-LM adapters") }
        if config.useDoRA { throw refuse("DoRA adapters are not supported by serve (their norm term is per adapter, not per row)") }
        if let saved = config.modulesToSave, !saved.isEmpty { throw refuse("modules_to_save \(saved) would replace base layers shared by every request") }
        if config.bias != .none { throw refuse("bias '\(config.bias.rawValue)' trains base biases shared by every request") }
        if config.initLoRAWeights == .pissa { throw refuse("a PiSSA adapter needs its own residual base model") }
    }

    /// The chat template an adapter directory ships (tokenizer_config.json or chat_template.jinja), if any.
    static func chatTemplate(in dir: URL) -> ChatTemplate? {
        if let source = try? String(contentsOf: dir.appendingPathComponent("chat_template.jinja"), encoding: .utf8) {
            return try? ChatTemplate(source: source)
        }
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let source = object["chat_template"] as? String else { return nil }
        return try? ChatTemplate(source: source)
    }

    private func evictOne() throws {
        let idle = resident.filter { references[$0.value.id, default: 0] == 0 }
        guard let victim = idle.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else {
            throw ServeError(status: 429, "all \(maxLoadedAdapters) loaded adapters are in use by running requests; retry later",
                             type: "rate_limit_error")
        }
        purge(victim.value.id)
        resident[victim.key] = nil
        catalog.setResident(victim.key, false)
    }

    private func release(_ id: String) {
        references[id, default: 1] -= 1
        if references[id] == 0 {
            references[id] = nil
            if retired.remove(id) != nil { purge(id) }
        }
    }

    private func retire(_ id: String) {
        if references[id, default: 0] == 0 { purge(id) } else { retired.insert(id) }
    }

    /// Removes every trace of internal adapter `id` from the model.
    private func purge(_ id: String) {
        routing.unloadAdapter(id, from: loaded.model)
    }
}
