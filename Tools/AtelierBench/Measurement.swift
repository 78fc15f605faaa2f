import Atelier
import Foundation

struct CaseResult: Codable {
    var name: String
    var group: String
    /// Median time of one run, milliseconds.
    var milliseconds: Double
    var gflops: Double?
    var gigabytesPerSecond: Double?
    /// Share of the device peak measured in the same sitting.
    var percentOfPeak: Double
    /// Largest difference to the CPU path, relative to the largest expected
    /// magnitude; nil on the CPU path, which is the reference.
    var maxRelativeError: Double?
    var checked: Bool
    /// OpenCL: device time per kernel in the median run, in launch order.
    var kernels: [KernelTime]?
}

struct KernelTime: Codable {
    var kernel: String
    var milliseconds: Double
}

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
}

enum Measurement {
    /// Runs `c` on `backend` after checking it against the CPU path. OpenCL
    /// runs are timed by event profiling (kernel time on the device) unless
    /// `wallClock`, which times enqueue to completion as the host sees it.
    static func run(_ c: BenchCase, on backend: Backend, reference: CPUBackend?, peak: DevicePeak,
                    warmup: Int, repeats: Int, tolerance: Double, wallClock: Bool = false) throws -> CaseResult {
        let prepared = try c.prepare(backend)
        var error: Double?
        if let reference {
            let expected = try c.prepare(reference)
            try expected.run()
            try prepared.run()
            var worst = 0.0
            for (out, ref) in zip(prepared.outputs, expected.outputs) {
                let a = try backend.read(out), e = try reference.read(ref)
                let scale = max(e.map { Double(abs($0)) }.max() ?? 0, 1e-6)
                for (x, y) in zip(a, e) {
                    let d = abs(Double(x) - Double(y))
                    worst = max(worst, d.isNaN ? .infinity : d / scale)
                }
            }
            error = worst
            guard worst <= tolerance else {
                throw CheckFailure(description: "\(c.name): result differs from the CPU path by \(worst) (relative), more than \(tolerance); not timed")
            }
        }
        for _ in 0..<warmup { try prepared.run() }
        try backend.synchronize()
        var times: [Double] = []
        var breakdowns: [[KernelTime]] = []
        let cl = backend as? OpenCLBackend
        _ = try cl?.takeProfile()
        for _ in 0..<repeats {
            if let cl, !wallClock {
                try prepared.run()
                // Device time of every kernel the op launched.
                let profile = try cl.takeProfile().map { KernelTime(kernel: $0.kernel, milliseconds: Double($0.nanoseconds) / 1e6) }
                times.append(profile.reduce(0) { $0 + $1.milliseconds })
                breakdowns.append(profile)
            } else {
                let start = DispatchTime.now().uptimeNanoseconds
                try prepared.run()
                try backend.synchronize()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
        }
        let order = times.indices.sorted { times[$0] < times[$1] }
        let medianRun = order[order.count / 2]
        let ms = times[medianRun]
        var result = CaseResult(name: c.name, group: c.group, milliseconds: ms, percentOfPeak: 0,
                                maxRelativeError: error, checked: reference != nil,
                                kernels: breakdowns.isEmpty ? nil : breakdowns[medianRun])
        switch c.work {
        case .flops(let f):
            let rate = f / (ms * 1e6)
            result.gflops = rate
            result.percentOfPeak = 100 * rate / peak.gflops
        case .bytes(let b):
            let rate = b / (ms * 1e6)
            result.gigabytesPerSecond = rate
            result.percentOfPeak = 100 * rate / peak.gigabytesPerSecond
        }
        return result
    }
}
