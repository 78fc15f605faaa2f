import AtelierDevices
import AtelierGraph
import AtelierModels
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
    private var plainPhases: [HostPhases] = []
    private(set) var reported = false

    private var profiling: Bool {
        stepsSeen >= Self.warmupSteps + Self.timedSteps && !reported
    }

    func beforeStep(_ trainer: Trainer) {
        if profiling && trainer.profiler == nil { trainer.profiler = profiler }
    }

    /// The report once the profiled steps are done, else nil.
    func afterStep(_ trainer: Trainer, seconds: Double, phases: HostPhases? = nil) throws -> String? {
        stepsSeen += 1
        if stepsSeen > Self.warmupSteps && trainer.profiler == nil && !reported {
            plainStepTimes.append(seconds * 1000)
            if let phases { plainPhases.append(phases) }
        }
        guard profiler.steps >= Self.profiledSteps else { return nil }
        return try finish(trainer)
    }

    /// The report of the steps profiled so far (a short run ends before the
    /// ten), or why there is none.
    func finish(_ trainer: Trainer) throws -> String? {
        trainer.profiler = nil
        let timer = trainer.backend.launchTimer
        // After the report, launches stop recording events: nobody reads them.
        defer { timer?.stopRecording() }
        guard !reported else { return nil }
        reported = true
        guard profiler.steps > 0 else {
            return "--profile: the run ended after \(stepsSeen) step\(stepsSeen == 1 ? "" : "s"), before the \(Self.warmupSteps) warm-up and \(Self.timedSteps) timed steps the profile starts after; nothing was profiled (train more steps: more images, a smaller --batch-size or more --epochs)"
        }
        let times = plainStepTimes.sorted()
        let median = times.isEmpty ? nil : times[times.count / 2]
        let peak = try PeakProbe.measure(trainer.backend)
        var report = "profile of \(profiler.steps) steps on \(trainer.backend.name):\n"
            + profiler.report(stepMilliseconds: median, peak: peak, timing: OpProfiler.timing(on: trainer.backend))
        if let host = HostPhases.median(plainPhases) {
            report += "\n" + host.line(deviceRunsWhileEnqueued: timer == nil)
        }
        return report
    }
}

/// Where the host's time of a plain (unprofiled) step goes: preparing the
/// batch (gathering the images, drawing the noise), enqueueing the step's
/// launches and writes, and waiting for the step (reading its losses back).
struct HostPhases: Equatable {
    var prepare: Double, enqueue: Double, wait: Double

    /// Each phase's median over the steps (nil for none).
    static func median(_ all: [HostPhases]) -> HostPhases? {
        guard !all.isEmpty else { return nil }
        func mid(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return HostPhases(prepare: mid(all.map(\.prepare)), enqueue: mid(all.map(\.enqueue)), wait: mid(all.map(\.wait)))
    }

    func line(deviceRunsWhileEnqueued: Bool) -> String {
        String(format: "host time per plain step (medians): preparing the batch %.2f ms, enqueueing the step %.2f ms, waiting for it %.2f ms",
               prepare * 1000, enqueue * 1000, wait * 1000)
            + (deviceRunsWhileEnqueued ? " (the CPU path runs each op as it is enqueued)" : "")
    }
}
