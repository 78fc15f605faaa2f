import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// Seeded random numbers, so a failing case can be rerun exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomValues(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: range, using: &rng) }
}

/// Fails with the worst element when |actual - expected| > atol + rtol * |expected|.
func expectClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-4, atol: Float = 1e-5,
                 _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(what()): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    var bad = 0
    for i in actual.indices {
        let diff = abs(actual[i] - expected[i])
        let allowed = atol + rtol * abs(expected[i])
        if !(diff <= allowed) {
            bad += 1
            if worst < 0 || diff - allowed > worstExcess || diff.isNaN {
                worst = i
                worstExcess = diff - allowed
            }
        }
    }
    if worst >= 0 {
        Issue.record("""
        \(what()): \(bad) of \(actual.count) values differ beyond atol \(atol) + rtol \(rtol); worst at [\(worst)]: \
        got \(actual[worst]), expected \(expected[worst]), difference \(abs(actual[worst] - expected[worst]))
        """, sourceLocation: sourceLocation)
    }
}

/// OpenCL tests run when a device exists, and also when ATELIER_REQUIRE_OPENCL=1
/// (then a missing device fails them instead of skipping them).
enum OpenCLTestSupport {
    static let required = ProcessInfo.processInfo.environment["ATELIER_REQUIRE_OPENCL"] == "1"
    static let available = ((try? OpenCLDevices.list()) ?? []).isEmpty == false
    static let shouldRun = available || required

    /// One backend per test (backends are used from one thread at a time).
    static func backend(tuning: DeviceTuning? = nil) throws -> OpenCLBackend {
        do {
            return try OpenCLBackend(tuning: tuning)
        } catch {
            throw TestFailure("ATELIER_REQUIRE_OPENCL=1 but no OpenCL device could be opened: \(error)")
        }
    }

    /// Every GEMM variant a device of either kind could use, so both are
    /// tested on whichever device this machine has.
    static let gemmVariants: [DeviceTuning.Gemm] = [
        .blocked(rows: 8, vectorWidth: 16, localX: 4, localY: 4),
        .blocked(rows: 3, vectorWidth: 4, localX: 2, localY: 1),
        .tiled(tileM: 64, tileN: 64, tileK: 16, workM: 4, workN: 4),
        .tiled(tileM: 16, tileN: 32, tileK: 8, workM: 2, workN: 4),
    ]
}

extension Trait where Self == ConditionTrait {
    /// Skipped by name when there is no OpenCL device, unless required.
    static var requiresOpenCL: Self {
        .enabled(if: OpenCLTestSupport.shouldRun,
                 "no OpenCL device found (install pocl-opencl-icd; set ATELIER_REQUIRE_OPENCL=1 to make this a failure)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Backend {
    func upload(_ values: [Float]) throws -> DeviceBuffer { try buffer(values) }
}
