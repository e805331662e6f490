import XCTest
import Foundation
import TensorCore

/// Graph recording is switched per thread: inference on one thread (a server decoding) leaves another thread's
/// training graph alone.
final class GradModeTests: XCTestCase {
    func testWithoutGradOnOneThreadDoesNotStopRecordingOnAnother() {
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            GradMode.withoutGrad {
                inside.signal()
                release.wait()
            }
            done.signal()
        }
        inside.wait()
        // The other thread is inside withoutGrad now; this one still records.
        XCTAssertTrue(GradMode.isEnabled)
        let w = randomTensor([2, 2], seed: 3)
        w.requiresGrad = true
        let y = (w * w).sum()
        y.backward()
        XCTAssertNotNil(w.grad)
        release.signal()
        done.wait()
        GradMode.withoutGrad { XCTAssertFalse(GradMode.isEnabled) }
        XCTAssertTrue(GradMode.isEnabled)
    }
}
