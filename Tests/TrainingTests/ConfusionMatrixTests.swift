import XCTest
import LoRAKit

/// The confusion matrix `lorakit eval` prints for classification: rows are true classes, columns predictions.
final class ConfusionMatrixTests: XCTestCase {
    func testTableLabelsRowsAndColumns() {
        let result = EvaluationResult(loss: 0.3, targetCount: 10, accuracy: 0.7, confusion: [[4, 1], [2, 3]])
        let table = result.confusionTable(labels: ["negative", "positive"])!.split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, 3)
        XCTAssertTrue(table[0].hasSuffix("negative  positive"), table[0])
        XCTAssertEqual(table[1].split(separator: " ").map(String.init), ["negative", "4", "1"])
        XCTAssertEqual(table[2].split(separator: " ").map(String.init), ["positive", "2", "3"])
        XCTAssertNil(EvaluationResult(loss: 1, targetCount: 1, accuracy: nil, confusion: nil).confusionTable(labels: []))
    }
}
