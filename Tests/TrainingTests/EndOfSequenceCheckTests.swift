import XCTest
import LoRAKit

/// The pad == eos guard (trl #3091, unsloth #416): warn exactly when EOS is in the data but never trained.
final class EndOfSequenceCheckTests: XCTestCase {
    let eos = 2

    func example(_ ids: [Int32], trained: [Bool]) -> TokenizedExample {
        TokenizedExample(inputIDs: ids, labels: zip(ids, trained).map { $1 ? $0 : ignoreIndex })
    }

    func testWarnsWhenPadIsEOSAndEveryEOSLabelIsMasked() {
        let masked = [example([1, 5, 6, 2], trained: [false, true, true, false]), example([1, 7, 2], trained: [false, true, false])]
        let warning = EndOfSequenceCheck.warning(examples: masked, eosID: eos, padID: 2)
        XCTAssertNotNil(warning)
        XCTAssertTrue(warning!.contains("all 2 EOS tokens"), warning!)
        XCTAssertTrue(warning!.contains("will not learn to stop"), warning!)
    }

    func testQuietWhenEOSIsTrainedOrPaddingDiffers() {
        let oneTrained = [example([1, 5, 2], trained: [false, true, false]), example([1, 7, 2], trained: [false, true, true])]
        XCTAssertNil(EndOfSequenceCheck.warning(examples: oneTrained, eosID: eos, padID: 2))
        let masked = [example([1, 5, 2], trained: [false, true, false])]
        XCTAssertNil(EndOfSequenceCheck.warning(examples: masked, eosID: eos, padID: 0), "a separate pad id cannot mask EOS")
        XCTAssertNil(EndOfSequenceCheck.warning(examples: [example([1, 5, 6], trained: [false, true, true])], eosID: eos, padID: 2),
                     "no EOS in the data: nothing is masked")
        XCTAssertNil(EndOfSequenceCheck.warning(examples: masked, eosID: nil, padID: 2))
    }
}
