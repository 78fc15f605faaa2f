import Foundation

/// `atelier train --profile`: after a warm-up, times a few plain steps,
/// then profiles the next ones op by op (which serialises them) and reports
/// per-op time, launches, rate and share, and the step's achieved GFLOP/s
/// against the device's measured peak. Training goes on unprofiled after.
final class ProfileSession {
    static let warmupSteps = 2
    static let timedSteps = 3
    static let profiledSteps = 10

    private let profiler = OpProfiler()
    private var stepsSeen = 0
    private var plainStepTimes: [Double] = []
    private(set) var reported = false

    private var profiling: Bool {
        stepsSeen >= Self.warmupSteps + Self.timedSteps && !reported
    }

    func beforeStep(_ trainer: GANTrainer) {
        if profiling && trainer.profiler == nil { trainer.profiler = profiler }
    }

    /// The report once the profiled steps are done, else nil.
    func afterStep(_ trainer: GANTrainer, seconds: Double) throws -> String? {
        stepsSeen += 1
        if stepsSeen > Self.warmupSteps && trainer.profiler == nil && !reported {
            plainStepTimes.append(seconds * 1000)
        }
        guard profiler.steps >= Self.profiledSteps else { return nil }
        return try finish(trainer)
    }

    /// The report of the steps profiled so far (a short run ends before the
    /// ten), or why there is none.
    func finish(_ trainer: GANTrainer) throws -> String? {
        trainer.profiler = nil
        let cl = trainer.backend as? OpenCLBackend
        // After the report, launches stop recording events: nobody reads them.
        defer {
            _ = try? cl?.takeProfile()
            cl?.recordsEvents = false
        }
        guard !reported else { return nil }
        reported = true
        guard profiler.steps > 0 else {
            return "--profile: the run ended after \(stepsSeen) step\(stepsSeen == 1 ? "" : "s"), before the \(Self.warmupSteps) warm-up and \(Self.timedSteps) timed steps the profile starts after; nothing was profiled (train more steps: more images, a smaller --batch-size or more --epochs)"
        }
        let times = plainStepTimes.sorted()
        let median = times.isEmpty ? nil : times[times.count / 2]
        let peak = try PeakProbe.measure(trainer.backend)
        return "profile of \(profiler.steps) steps on \(trainer.backend.name):\n"
            + profiler.report(stepMilliseconds: median, peak: peak, timing: OpProfiler.timing(on: trainer.backend))
    }
}
