import AtelierDevices
import Foundation

/// What one op costs: arithmetic for GEMMs and convolutions, memory traffic
/// for everything else (the inputs read and the outputs written once).
public struct OpCost: Sendable {
    /// The op's arithmetic as the direct algorithm counts it (the rates).
    public var flops: Double
    public var bytes: Double
    /// The arithmetic the backend performs for it (the share of the FMA
    /// peak): fewer than `flops` for the CPU path's Winograd convolutions.
    public var performedFlops: Double

    public init(flops: Double = 0, bytes: Double = 0, performedFlops: Double? = nil) {
        self.flops = flops
        self.bytes = bytes
        self.performedFlops = performedFlops ?? flops
    }

    static func memory(_ shapes: [Shape]) -> OpCost {
        OpCost(bytes: Double(shapes.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size))
    }
}

/// Time, launches and work per kind of op over profiled training steps.
/// On OpenCL with profiling enabled the time is the kernels' device time
/// (event profiling); otherwise the op's wall time, waiting for the device
/// after each op.
public final class OpProfiler {
    public struct Entry: Sendable {
        public var count = 0
        public var nanoseconds: UInt64 = 0
        public var flops = 0.0
        public var bytes = 0.0
        public var performedFlops = 0.0
    }

    public private(set) var totals: [String: Entry] = [:]
    /// Training steps profiled, to report per-step figures.
    public var steps = 0
    /// One line per node of the step's graph (its op, "#" and its index
    /// there) instead of one per op kind: which of a model's layers an op
    /// kind's time goes to.
    public var byNode = false

    public init() {}

    public func add(_ name: String, nanoseconds: UInt64, cost: OpCost) {
        var e = totals[name] ?? Entry()
        e.count += 1
        e.nanoseconds += nanoseconds
        e.flops += cost.flops
        e.bytes += cost.bytes
        e.performedFlops += cost.performedFlops
        totals[name] = e
    }

    /// Runs `work` (one op's launches) and records its time under `name`.
    public func measure(_ name: String, cost: OpCost, on backend: Backend, _ work: () throws -> Void) throws {
        if let timer = backend.launchTimer {
            try timer.startRecording()  // launches before this op are not its own
            try work()
            let kernels = try timer.takeLaunchTimes()
            add(name, nanoseconds: kernels.reduce(0) { $0 + $1.nanoseconds }, cost: cost)
        } else {
            try backend.synchronize()
            let start = DispatchTime.now().uptimeNanoseconds
            try work()
            try backend.synchronize()
            add(name, nanoseconds: DispatchTime.now().uptimeNanoseconds - start, cost: cost)
        }
    }

    /// The profile as a table: per op kind, launches and milliseconds per
    /// step, share of the profiled time, and GFLOP/s (GEMM, convolution) or
    /// GB/s (the rest); then the step's achieved GFLOP/s against `peak`.
    /// `stepMilliseconds` is the unprofiled step time, if measured.
    public func report(stepMilliseconds: Double?, peak: DevicePeak?, timing: String) -> String {
        let steps = Double(max(self.steps, 1))
        let profiled = Double(totals.values.reduce(0) { $0 + $1.nanoseconds }) / 1e6 / steps
        var rows = [["op", "per step", "ms/step", "share", "rate"]]
        for (name, e) in totals.sorted(by: { $0.value.nanoseconds > $1.value.nanoseconds }) {
            let ms = Double(e.nanoseconds) / 1e6 / steps
            let seconds = Double(e.nanoseconds) / 1e9
            let rate = e.flops > 0 && seconds > 0 ? String(format: "%.1f GFLOP/s", e.flops / seconds / 1e9)
                : e.bytes > 0 && seconds > 0 ? String(format: "%.1f GB/s", e.bytes / seconds / 1e9) : "-"
            rows.append([name, String(format: "%.0f", Double(e.count) / steps), String(format: "%.3f", ms),
                         String(format: "%.1f%%", profiled > 0 ? 100 * ms / profiled : 0), rate])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { column, text in
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return column == 0 ? text + pad : pad + text
            }.joined(separator: "  ")
        }
        let flops = totals.values.reduce(0) { $0 + $1.flops } / steps
        let step = stepMilliseconds ?? profiled
        lines.append(String(format: "%.1f ms of ops per step (%@)%@", profiled, timing,
                            stepMilliseconds.map { String(format: "; the step takes %.1f ms unprofiled", $0) } ?? ""))
        let performed = totals.values.reduce(0) { $0 + $1.performedFlops } / steps
        var achieved = String(format: "%.2f GFLOP per step: %.1f GFLOP/s achieved", flops / 1e9, flops / (step / 1e3) / 1e9)
        if performed < flops * 0.999 {
            // Rates count the direct algorithm's work; the cores did less.
            achieved += String(format: " (effective: %.2f GFLOP performed, Winograd convolutions)", performed / 1e9)
        }
        if let peak {
            achieved += String(format: ", %.0f%% of the measured FMA peak (%.1f GFLOP/s)%@",
                               100 * performed / (step / 1e3) / 1e9 / peak.gflops, peak.gflops,
                               performed < flops * 0.999 ? " in performed multiply-adds" : "")
        }
        lines.append(achieved)
        return lines.joined(separator: "\n")
    }

    /// How the times were taken, for the report's footer.
    public static func timing(on backend: Backend) -> String {
        backend.launchTimer?.timingDescription ?? "wall time, each op waited for"
    }
}
