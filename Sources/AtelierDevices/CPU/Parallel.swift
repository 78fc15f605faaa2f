import CAtelier
import Foundation

package enum Parallel {
    /// Threads for the CPU path's own loops: ATELIER_CPU_THREADS, else one
    /// per core.
    static let cores: Int = {
        if let text = ProcessInfo.processInfo.environment["ATELIER_CPU_THREADS"], let n = Int(text), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body` over contiguous slices of 0..<count, on every core when
    /// the work is large enough to repay the hand-off (a few microseconds
    /// while the pool's threads spin, tens once they have gone to sleep).
    @inline(__always)
    package static func forEachSlice(_ count: Int, minimumSlice: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let slices = min(cores, max(1, count / minimumSlice))
        if slices == 1 {
            body(0..<count)
            return
        }
        // The slices are disjoint; callers only write inside their slice.
        forEachWorker(slices) { s in body(count * s / slices ..< count * (s + 1) / slices) }
    }

    /// Runs `body(piece, worker)` for pieces 0..<pieces on `workers` cores,
    /// each core taking the next piece when it is done with one: a core
    /// that is slowed down (this machine's cores are shared) does less of
    /// the work instead of holding the others up at the end.
    static func forEachPiece(_ pieces: Int, workers: Int, _ body: (Int, Int) -> Void) {
        var next = 0
        withUnsafeMutablePointer(to: &next) { next in
            nonisolated(unsafe) let next = next
            forEachWorker(min(workers, pieces)) { worker in
                while true {
                    let piece = atelier_take_next(next)
                    if piece >= pieces { return }
                    body(piece, worker)
                }
            }
        }
    }

    /// Runs `body(worker)` for workers 0..<count at once, one per core.
    static func forEachWorker(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 {
            body(0)
            return
        }
        // The pool threads spin between regions instead of sleeping, so
        // the other cores join at once (cpu_pool.c; GCD took 45-75 us).
        withoutActuallyEscaping(body) { body in
            var work = body
            withUnsafeMutablePointer(to: &work) { pointer in
                atelier_pool_run(Int32(count), { context, worker in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(worker))
                }, pointer)
            }
        }
    }
}
