import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The kernels' parity tests again, on Oclgrind (Debian's OpenCL device
/// simulator) with its out-of-bounds and data-race checks: PoCL runs a
/// work-group's items one after another, so a missing barrier in
/// local-memory code passes there and corrupts results on a GPU. Oclgrind
/// presents itself as a GPU with local memory, so the GPU tilings run.
/// The test runs this test bundle again in a child process whose only
/// OpenCL device is Oclgrind.
struct OclgrindTests {
    static let library = "/usr/lib/oclgrind/liboclgrind-rt-icd.so"
    static let installed = FileManager.default.fileExists(atPath: library)
    /// Set in the child, which must not start another.
    static let childVariable = "ATELIER_UNDER_OCLGRIND"
    static let isChild = ProcessInfo.processInfo.environment[childVariable] == "1"
    /// The suites that run every kernel variant against the CPU path.
    static let parityFilter = "KernelParityTests|OpRegistryTests.openCLParity|DropoutTests.openCLMasks|SpectralNormTests.powerIterationOpenCL"

    @Test("Every kernel passes its parity tests under Oclgrind, with no out-of-bounds access and no data race",
          .enabled(if: (installed || OpenCLTestSupport.required) && !isChild,
                   "oclgrind is not installed (Tools/scripts/install-deps.sh installs it; ATELIER_REQUIRE_OPENCL=1 makes this a failure)"))
    func parityUnderOclgrind() throws {
        guard Self.installed else { throw TestFailure("oclgrind is not installed: run Tools/scripts/install-deps.sh (apt-get install oclgrind)") }
        let dir = try temporaryDirectory("oclgrind")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data((Self.library + "\n").utf8).write(to: dir.appendingPathComponent("oclgrind.icd"))
        let log = dir.appendingPathComponent("oclgrind.log")
        // One test at a time: Oclgrind 21.10 gives wrong results when several
        // threads run kernels at once (the same tests pass serialised).
        let result = try Executables.run("AtelierPackageTests.xctest",
                                         ["--testing-library", "swift-testing", "--no-parallel", "--filter", Self.parityFilter],
                                         environment: ["OCL_ICD_VENDORS": dir.path, "OCLGRIND_DATA_RACES": "1",
                                                       "OCLGRIND_LOG": log.path, "ATELIER_REQUIRE_OPENCL": "1", Self.childVariable: "1"],
                                         timeout: 1200)
        let reports = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let tail = result.output.split(separator: "\n").suffix(15).joined(separator: "\n")
        #expect(result.status == 0, "the parity tests failed under Oclgrind:\n\(tail)")
        #expect(reports.isEmpty, "Oclgrind reported:\n\(reports.prefix(3000))")
        #expect(result.output.contains("Oclgrind") || result.output.contains("passed"), "no test ran:\n\(tail)")
        let ran = result.output.components(separatedBy: "✔ Test \"").count - 1
        #expect(ran >= 5, "only \(ran) tests ran under Oclgrind:\n\(tail)")
    }
}
