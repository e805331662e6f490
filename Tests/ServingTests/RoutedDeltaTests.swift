import XCTest
import LoRAKit
@testable import LoRA

/// The per-row LoRA deltas of a serving step (`LoRARowRouting`): each row gets exactly its own adapter's delta,
/// computed the same way (bit for bit) whatever else shares the batch, and a B replaced under the same adapter name
/// is used rather than a stale transposed copy. Sizes are not multiples of the vector widths, so the tails run too.
final class RoutedDeltaTests: XCTestCase {
    let (din, dout) = (41, 57)

    func random(_ shape: [Int], seed: UInt64, std: Float = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        return Tensor.normal(shape, std: std, generator: &g)
    }

    func makeLayer() -> (LoRALinear, LoRARowRouting) {
        let layer = LoRALinear(wrapping: Linear(inFeatures: din, outFeatures: dout, bias: true))
        let routing = LoRARowRouting()
        layer.attachRouted("a", a: random([5, din], seed: 1), b: random([dout, 5], seed: 2), scaling: 0.5)
        layer.attachRouted("b", a: random([8, din], seed: 3), b: random([dout, 8], seed: 4), scaling: 2)
        layer.rowRouting = routing
        return (layer, routing)
    }

    /// Row i of x through `layer` with each row's adapters as given (one token per row).
    func forward(_ layer: LoRALinear, _ routing: LoRARowRouting, _ x: Tensor, _ rows: [[(adapter: String, weight: Float)]]) -> Tensor {
        routing.route(rows)
        return GradMode.withoutGrad { layer(x) }
    }

    func row(_ t: Tensor, _ i: Int) -> [Float] { Array(UnsafeBufferPointer(start: t.data + i * t.lastDim, count: t.lastDim)) }

    /// base(x) + weight · scaling · B·A·x in Double.
    func reference(_ layer: LoRALinear, _ x: [Float], _ adapters: [(adapter: String, weight: Float)]) -> [Double] {
        let base = GradMode.withoutGrad { layer.base(Tensor(x, shape: [1, din])) }
        var y = (0..<dout).map { Double(base.data[$0]) }
        for (name, weight) in adapters {
            let a = layer.loraA(name).weight, b = layer.loraB(name).weight
            let rank = a.shape[0]
            let s = (0..<rank).map { r in (0..<din).reduce(0.0) { $0 + Double(a.data[r * din + $1]) * Double(x[$1]) } }
            let alpha = Double(weight) * Double(layer.adapters[name]!.scaling)
            for o in 0..<dout { y[o] += alpha * (0..<rank).reduce(0.0) { $0 + Double(b.data[o * rank + $1]) * s[$1] } }
        }
        return y
    }

    func testEachRowGetsItsOwnAdapterWhateverShares() {
        let (layer, routing) = makeLayer()
        let x = random([7, 1, din], seed: 5)
        // Adapter a on five rows (a group of four and one more), b on one, the base alone on one.
        let rows: [[(adapter: String, weight: Float)]] = [[("a", 1)], [("a", 1)], [("a", 1)], [("a", 1)], [("a", 1)], [("b", 0.7)], []]
        let y = forward(layer, routing, x, rows)
        for i in 0..<7 {
            let xi = row(x.reshaped([7, din]), i)
            let want = reference(layer, xi, rows[i])
            let worst = zip(row(y.reshaped([7, dout]), i), want).map { abs(Double($0) - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4, "row \(i)")
            // The same row in a batch of one gives the same bits.
            let alone = forward(layer, routing, Tensor(xi, shape: [1, 1, din]), [rows[i]])
            XCTAssertEqual(row(alone.reshaped([1, dout]), 0), row(y.reshaped([7, dout]), i), "row \(i) alone vs in the batch")
        }
    }

    func testAReplacedBIsUsedNotAStaleTransposedCopy() {
        let (layer, routing) = makeLayer()
        let x = random([1, 1, din], seed: 6)
        let before = forward(layer, routing, x, [[("a", 1)]])
        layer.deleteAdapter("a")
        layer.attachRouted("a", a: layer.loraA("b").weight, b: random([dout, 8], seed: 7), scaling: 1)
        let after = forward(layer, routing, x, [[("a", 1)]])
        let want = reference(layer, row(x.reshaped([1, din]), 0), [("a", 1)])
        XCTAssertNotEqual(row(before.reshaped([1, dout]), 0), row(after.reshaped([1, dout]), 0))
        XCTAssertLessThan(zip(row(after.reshaped([1, dout]), 0), want).map { abs(Double($0) - $1) }.max()!, 1e-4)
    }
}
