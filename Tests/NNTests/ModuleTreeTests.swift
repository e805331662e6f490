import XCTest
import TensorCore
import NN

final class ModuleTreeTests: XCTestCase {
    final class Block: Module {
        override init() {
            super.init()
            register("q_proj", Linear(inFeatures: 4, outFeatures: 3, bias: false))
            register("norm", RMSNorm(dimension: 4, eps: 1e-5))
        }
    }

    func testPathsAreHuggingFaceNames() {
        let root = Module()
        root.register("layers", ModuleList([Block(), Block()]))
        XCTAssertEqual(root.namedParameters().map(\.path),
                       ["layers.0.q_proj.weight", "layers.0.norm.weight", "layers.1.q_proj.weight", "layers.1.norm.weight"])
        XCTAssertTrue(root.module(at: "layers.1.q_proj") is Linear)
        XCTAssertNil(root.module(at: "layers.2"))
    }

    func testStrictLoadingNamesMissingAndMisshapedWeights() {
        let root = Block()
        XCTAssertThrowsError(try root.loadWeights { $0 == "norm.weight" ? Tensor(zeros: [4]) : nil }) {
            XCTAssertEqual($0 as? ModuleError, .missingWeights(["q_proj.weight"]))
        }
        XCTAssertThrowsError(try root.loadWeights { _ in Tensor(zeros: [2]) }) {
            XCTAssertEqual($0 as? ModuleError, .shapeMismatch("q_proj.weight", expected: [3, 4], got: [2]))
        }
    }

    func testReplacingAModuleIsSeenByItsParent() {
        let root = Block()
        let replacement = Linear(inFeatures: 4, outFeatures: 3, bias: true)
        root.replaceModule(at: "q_proj", with: replacement)
        XCTAssertTrue(root.linear("q_proj").layer === replacement)
        XCTAssertEqual(root.namedParameters().map(\.path), ["q_proj.weight", "q_proj.bias", "norm.weight"])
    }

    func testConv1DIsLinearWithTransposedWeight() throws {
        let conv = Conv1D(inFeatures: 2, outFeatures: 3)
        try conv.setParameter(at: "weight", Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        let y = conv(Tensor([1, 1], shape: [1, 2]))
        XCTAssertEqual(y.scalars, [5, 7, 9])
    }
}
