import Foundation

/// A Float32 tensor: contiguous row-major storage, a shape, and an optional place in the autograd graph.
///
/// Views share storage: `reshaped` and `rows(_:)` (a range along the first axis) copy nothing. Transposes are not
/// views; the matrix products take transpose flags instead, so no op ever needs strided elementwise loops.
public final class Tensor {
    public let shape: [Int]
    public let storage: Storage
    /// Element offset of this view inside `storage`.
    public let offset: Int
    /// A leaf the optimizer updates: gradients are accumulated into `grad`.
    public var requiresGrad: Bool
    public var grad: Tensor?
    /// How this tensor was computed, when a gradient must flow through it; nil for leaves and constants.
    var gradFn: GradFn?
    /// Recomputes this tensor exactly from what the op that made it keeps for its own backward anyway (a norm's
    /// input and statistics, SwiGLU's gate and up): ops that need it in backward save this instead of the tensor
    /// (`SavedActivation`), so it need not stay alive from forward to backward. Set only while recording.
    var remake: (() -> Tensor)?

    public init(shape: [Int], storage: Storage, offset: Int = 0, requiresGrad: Bool = false) {
        precondition(offset + shape.reduce(1, *) <= storage.count, "view \(shape) at \(offset) exceeds storage \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    /// A tensor of zeros.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    /// Uninitialised memory, for op outputs that are fully overwritten.
    convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *), zeroed: false))
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(shape: shape, storage: Storage(values), requiresGrad: requiresGrad)
    }

    public convenience init(filled value: Float, shape: [Int]) {
        let t = Tensor(uninitialized: shape)
        t.data.initialize(repeating: value, count: t.count)
        self.init(shape: shape, storage: t.storage)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    /// Pointer to this view's first element.
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var scalars: [Float] { Array(buffer) }
    /// The single value of a one-element tensor (a loss).
    public var item: Float { precondition(count == 1, "item of \(shape)"); return data[0] }
    /// Product of all but the last dimension: the number of rows when the tensor is read as a matrix.
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    public var lastDim: Int { shape.last ?? 1 }

    /// Whether a gradient must be propagated through this tensor.
    public var needsGrad: Bool { requiresGrad || gradFn?.backward != nil }

    /// A view with another shape (same element count); gradients flow through it.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let i = newShape.firstIndex(of: -1) {
            newShape[i] = count / newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
        }
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        let view = Tensor(shape: newShape, storage: storage, offset: offset)
        if needsGrad && GradMode.isEnabled {
            let oldShape = shape
            view.gradFn = GradFn("reshape", [self]) { g in [g.reshaped(oldShape)] }
        }
        return view
    }

    /// A view of rows `range` along the first axis; gradients flow through it.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) of \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        let view = Tensor(shape: [range.count] + shape.dropFirst(), storage: storage, offset: offset + range.lowerBound * inner)
        if needsGrad && GradMode.isEnabled {
            let full = shape
            view.gradFn = GradFn("rows", [self]) { g in
                let out = Tensor(zeros: full)
                (out.data + range.lowerBound * inner).update(from: g.data, count: g.count)
                return [out]
            }
        }
        return view
    }

    /// A copy that is detached from the graph.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// The same values, cut from the graph (no copy).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage, offset: offset) }

    public subscript(_ index: Int...) -> Float {
        get { data[flatIndex(index)] }
        set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) { precondition(i >= 0 && i < n); flat = flat * n + i }
        return flat
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// Integer tensor for token ids, labels and masks.
public struct IntTensor: Equatable {
    public var shape: [Int]
    public var values: [Int32]

    public init(_ values: [Int32], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.values = values
        self.shape = shape
    }

    public init(_ values: [Int], shape: [Int]) { self.init(values.map { Int32($0) }, shape: shape) }
    public var count: Int { values.count }
}
