import Atelier

/// Tuning on a shared machine: one sweep's ranking moves by several per
/// cent from run to run, so a sweep's best replaces the current setting
/// only when, timed against it in alternation (three rounds each), its
/// median is at least `margin` lower. Used by both tuners.
enum SecondLook {
    static func decide<T: Equatable>(_ best: T, over current: T, margin: Double, log: (String) -> Void,
                                     time: (T) throws -> Double) throws -> T {
        guard best != current else { return best }
        var bestTimes: [Double] = [], currentTimes: [Double] = []
        for _ in 0..<3 {
            bestTimes.append(try time(best))
            currentTimes.append(try time(current))
        }
        let (b, c) = (bestTimes.sorted()[1], currentTimes.sorted()[1])
        let keep = b < (1 - margin) * c
        log(String(format: "second look, three rounds each: the sweep's best %.3f ms, the current setting %.3f ms: %@", b, c,
                   keep ? "taking the sweep's best" : "keeping the current setting (less than \(Int(margin * 100)) % apart)"))
        return keep ? best : current
    }

    /// The sum of the cases' median times on `backend`.
    static func totalMilliseconds(_ cases: [BenchCase], on backend: Backend, repeats: Int) throws -> Double {
        let peak = DevicePeak(gflops: 1, gigabytesPerSecond: 1, units: 1)
        return try cases.reduce(0) {
            $0 + (try Measurement.run($1, on: backend, reference: nil, peak: peak, warmup: 1, repeats: repeats, tolerance: 0).milliseconds)
        }
    }
}
