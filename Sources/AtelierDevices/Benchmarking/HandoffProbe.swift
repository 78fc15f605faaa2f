import Foundation

/// What it costs the CPU path to hand a parallel region to its cores, on
/// its worker pool (cpu_pool.c) and, for comparison, with GCD's
/// `concurrentPerform`, which the pool replaced. A training step runs dozens
/// of regions of 0.1-1 ms with a little serial work between them; the probe
/// does the same: `regions` times, a few microseconds of serial work, then
/// one work item of `itemMicroseconds` per core.
public enum HandoffProbe {
    public struct Figures: Sendable {
        /// Median wall time of a region, microseconds (ideally the item's length).
        public var region: Double
        /// Median delay between the region's start and the last core starting its item.
        public var lastJoin: Double
    }

    public struct Result: Sendable {
        public var cores: Int
        public var itemMicroseconds: Double
        public var regions: Int
        public var pool: Figures
        public var gcd: Figures
    }

    public static func measure(itemMicroseconds: Double = 66, regions: Int = 200) -> Result {
        let cores = Parallel.cores
        let pool = figures(itemMicroseconds, regions, cores) { body in Parallel.forEachWorker(cores, body) }
        let gcd = figures(itemMicroseconds, regions, cores) { body in
            DispatchQueue.concurrentPerform(iterations: cores, execute: body)
        }
        return Result(cores: cores, itemMicroseconds: itemMicroseconds, regions: regions, pool: pool, gcd: gcd)
    }

    private static func figures(_ item: Double, _ regions: Int, _ cores: Int,
                                _ region: (@Sendable (Int) -> Void) -> Void) -> Figures {
        let starts = UnsafeMutablePointer<UInt64>.allocate(capacity: cores)
        defer { starts.deallocate() }
        nonisolated(unsafe) let slots = starts
        var lengths: [Double] = [], joins: [Double] = []
        for r in 0..<(regions + 10) {  // the first 10 warm up
            spin(microseconds: 5)  // the serial work between two regions of a step
            let begin = now()
            region { worker in
                slots[worker] = now()
                spin(microseconds: item)
            }
            let end = now()
            guard r >= 10 else { continue }
            lengths.append(Double(end - begin) / 1e3)
            joins.append(Double((0..<cores).map { slots[$0] }.max()! - begin) / 1e3)
        }
        return Figures(region: median(lengths), lastJoin: median(joins))
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Busy work of about this length (a sleeping core would measure the scheduler instead).
    private static func spin(microseconds: Double) {
        let end = now() + UInt64(microseconds * 1e3)
        while now() < end {}
    }

    private static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
