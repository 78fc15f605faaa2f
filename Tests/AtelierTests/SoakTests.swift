import Foundation
import Testing
@testable import AtelierModels
@testable import AtelierTraining

/// A run killed with SIGKILL at random moments, again and again, and
/// resumed each time, must end where the uninterrupted run ends: the same
/// checkpoint, byte for byte, and the same losses.csv.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"),
                             "needs dataset-fashion-mnist"))
struct SoakTests {
    static let arguments = ["--model", "gan", "--limit-images", "640", "--epochs", "2", "--device", "cpu", "--save-every", "1"]

    @Test("SIGKILL at random moments, then --continue, reproduces the uninterrupted run", .timeLimit(.minutes(5)))
    func killAndResume() throws {
        let root = try temporaryDirectory("soak")
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole").path, killed = root.appendingPathComponent("killed").path
        let reference = try Executables.run("atelier", ["train"] + Self.arguments + ["--out", whole])
        #expect(reference.status == 0, "stderr: \(reference.stderr)")

        var random = FuzzTests.Mutator(state: 2026)
        var kills = 0, attempts = 0
        while kills < 8 && attempts < 40 {
            attempts += 1
            let resume = FileManager.default.fileExists(atPath: RunFiles(killed).checkpoint.path)
            let process = Process()
            process.executableURL = Executables.directory.appendingPathComponent("atelier")
            process.arguments = ["train"] + Self.arguments + ["--out", killed] + (resume ? ["--continue"] : [])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Start-up (loading) takes about a second of a debug build, a step a few tenths.
            Thread.sleep(forTimeInterval: 0.8 + Double(random.below(3000)) / 1000)
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
            if process.terminationReason == .exit && process.terminationStatus == 0 { break }  // it finished first
        }
        #expect(kills >= 2, "only \(kills) of \(attempts) runs were still going when killed")
        if (try? Checkpoint.read(RunFiles(killed).checkpoint.path))?.state.epoch != 2 {
            let last = try Executables.run("atelier", ["train"] + Self.arguments + ["--out", killed, "--continue"])
            #expect(last.status == 0, "stderr: \(last.stderr)")
        }
        let (a, b) = (RunFiles(whole), RunFiles(killed))
        #expect(try Data(contentsOf: a.checkpoint) == Data(contentsOf: b.checkpoint), "the resumed run's checkpoint differs")
        #expect(try String(contentsOf: a.losses, encoding: .utf8) == String(contentsOf: b.losses, encoding: .utf8),
                "the resumed run's losses.csv differs")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: killed).filter { TrainingRun.isLeftover($0) }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
    }
}
