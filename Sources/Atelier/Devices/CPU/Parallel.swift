import Foundation

enum Parallel {
    /// Threads for the CPU path's own loops: ATELIER_CPU_THREADS, else one
    /// per core.
    static let cores: Int = {
        if let text = ProcessInfo.processInfo.environment["ATELIER_CPU_THREADS"], let n = Int(text), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body` over contiguous slices of 0..<count, on every core when
    /// the work is large enough to repay the hand-off (about 20 us).
    @inline(__always)
    static func forEachSlice(_ count: Int, minimumSlice: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let slices = min(cores, max(1, count / minimumSlice))
        if slices == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // The slices are disjoint; callers only write inside their slice.
            nonisolated(unsafe) let slice = body
            DispatchQueue.concurrentPerform(iterations: slices) { s in
                slice(count * s / slices ..< count * (s + 1) / slices)
            }
        }
    }

    /// Runs `body(worker)` for workers 0..<count at once, one per core.
    static func forEachWorker(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: count) { work($0) }
        }
    }
}
