import CAtelier
import Foundation

/// What a device can do at best, measured on the spot: kernel figures are
/// read as a share of these.
public struct DevicePeak: Sendable, Codable {
    /// FMA throughput of the whole device, GFLOP/s.
    public var gflops: Double
    /// Copy bandwidth (bytes read + written), GB/s.
    public var gigabytesPerSecond: Double
    /// Cores or compute units the figures were measured on.
    public var units: Int

    public init(gflops: Double, gigabytesPerSecond: Double, units: Int) {
        self.gflops = gflops
        self.gigabytesPerSecond = gigabytesPerSecond
        self.units = units
    }

    public var gflopsPerUnit: Double { gflops / Double(units) }
    public var gigabytesPerSecondPerUnit: Double { gigabytesPerSecond / Double(units) }
}

public enum PeakProbe {
    /// Floats per buffer of the copy probe: 4 MiB, the size of a batch-64
    /// DCGAN activation, the working set elementwise kernels see in training.
    public static let copyFloats = 1 << 20

    /// Best of `repeats` runs of each probe: a peak is what the device can
    /// do, and on a shared machine slower runs only measure the neighbours.
    public static func measure(_ backend: Backend, repeats: Int = 5) throws -> DevicePeak {
        try backend.measurePeak(repeats: repeats)
    }

    static func best(_ values: [Double]) -> Double {
        values.max() ?? .nan
    }

    // MARK: OpenCL: peak.cl, timed with event profiling.

    static func measure(_ cl: OpenCLBackend, repeats: Int) throws -> DevicePeak {
        guard cl.isProfiling else {
            throw ShapeError("peak measurement needs a profiling queue: create the OpenCLBackend with profiling: true")
        }
        let iterations = 8192  // a few ms per run: long enough for every core to join
        // Enough work-items to fill every compute unit many times over.
        let items = max(cl.info.computeUnits, 1) * (cl.info.kind == .cpu ? 1024 : 4096)
        let out = try cl.buffer(count: items)
        let fma = try cl.kernel(file: "peak.cl", name: "peak_fma", options: "-DPEAK_ITERATIONS=\(iterations)")
        var flopsRates: [Double] = []
        for r in 0...repeats {
            try cl.launch(fma, [.float(1 + Float(r)), .buffer(out)], global: [items], local: [64])
            let ns = try cl.takeProfile().reduce(0) { $0 + $1.nanoseconds }
            if r > 0 { flopsRates.append(Double(items) * Double(iterations) * 8 * 16 * 2 / Double(ns)) }
        }
        let floats = PeakProbe.copyFloats
        let a = try cl.buffer(count: floats), b = try cl.buffer(count: floats)
        try cl.fill(a, with: 1)
        let copy = try cl.kernel(file: "peak.cl", name: "peak_copy")
        var bandwidth: [Double] = []
        for r in 0...repeats {
            try cl.launch(copy, [.buffer(a), .buffer(b)], global: [floats / 4], local: [cl.tuning.pointwiseLocal])
            let ns = try cl.takeProfile().reduce(0) { $0 + $1.nanoseconds }
            if r > 0 { bandwidth.append(Double(2 * floats * 4) / Double(ns)) }
        }
        return DevicePeak(gflops: best(flopsRates), gigabytesPerSecond: best(bandwidth),
                          units: max(cl.info.computeUnits, 1))
    }

    // MARK: CPU: SIMD FMA chains and a copy on every core.

    static func measureCPU(repeats: Int) -> DevicePeak {
        let cores = Parallel.cores
        var flopsRates: [Double] = []
        let iterations = 20_000_000
        for _ in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let lanes = UnsafeMutablePointer<Int32>.allocate(capacity: cores)
            defer { lanes.deallocate() }
            nonisolated(unsafe) let laneCounts = lanes
            DispatchQueue.concurrentPerform(iterations: cores) { c in
                blackHole(atelier_fma_chains(iterations, Float(c), laneCounts + c))
            }
            let ns = DispatchTime.now().uptimeNanoseconds - start
            flopsRates.append(Double(cores) * Double(iterations) * 8 * Double(lanes[0]) * 2 / Double(ns))
        }
        let floats = PeakProbe.copyFloats
        let a = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: floats)
        defer { a.deallocate(); b.deallocate() }
        a.initialize(repeating: 1, count: floats)
        b.initialize(repeating: 0, count: floats)
        nonisolated(unsafe) let (src, dst) = (a, b)
        var bandwidth: [Double] = []
        for _ in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: cores) { c in
                let lo = floats * c / cores, hi = floats * (c + 1) / cores
                (dst + lo).update(from: src + lo, count: hi - lo)
            }
            let ns = DispatchTime.now().uptimeNanoseconds - start
            bandwidth.append(Double(2 * floats * 4) / Double(ns))
        }
        return DevicePeak(gflops: best(Array(flopsRates.dropFirst())), gigabytesPerSecond: best(Array(bandwidth.dropFirst())),
                          units: cores)
    }

    @inline(never)
    static func blackHole(_ value: Float) {
        if value == .infinity { print("", terminator: "") }
    }
}

extension OpenCLBackend {
    public var isProfiling: Bool { profilingEnabled }

    public func measurePeak(repeats: Int) throws -> DevicePeak { try PeakProbe.measure(self, repeats: repeats) }
}
