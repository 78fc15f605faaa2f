import Foundation

/// Free lists of device storage, keyed by capacity. Capacities are rounded up
/// to a small set of sizes so that buffers of nearby sizes share storage.
public final class BufferPool: @unchecked Sendable {
    // Safe to share: every mutable field is guarded by `lock`.
    /// What the pool has done so far.
    public struct Statistics: Sendable, Equatable {
        /// Storage objects created (each one a real allocation).
        public var allocations = 0
        /// Requests served from the free lists.
        public var reuses = 0
        /// Floats held by every storage object created so far.
        public var floatsAllocated = 0
    }

    private let lock = NSLock()
    private var free: [Int: [BufferStorage]] = [:]
    private var stats = Statistics()
    private let allocate: (Int) throws -> BufferStorage

    /// A pool whose new storage comes from `allocate` (a count of floats).
    public init(allocate: @escaping (Int) throws -> BufferStorage) {
        self.allocate = allocate
    }

    /// Its figures so far.
    public var statistics: Statistics {
        lock.withLock { stats }
    }

    /// A buffer of `count` floats; contents are undefined.
    public func buffer(count: Int) throws -> DeviceBuffer {
        precondition(count >= 0, "negative buffer size")
        let capacity = Self.capacity(for: count)
        let reused: BufferStorage? = lock.withLock {
            guard let storage = free[capacity]?.popLast() else { return nil }
            stats.reuses += 1
            return storage
        }
        if let reused { return DeviceBuffer(count: count, storage: reused, pool: self) }
        let storage = try allocate(capacity)
        lock.withLock {
            stats.allocations += 1
            stats.floatsAllocated += capacity
        }
        return DeviceBuffer(count: count, storage: storage, pool: self)
    }

    func recycle(_ storage: BufferStorage) {
        lock.withLock { free[storage.capacity, default: []].append(storage) }
    }

    /// Rounds up to 1, 1.25, 1.5 or 1.75 times a power of two (at most 25 %
    /// waste), with a floor of 64 floats.
    package static func capacity(for count: Int) -> Int {
        let n = max(count, 64)
        let top = Int.bitWidth - 1 - (n - 1).leadingZeroBitCount // floor(log2(n-1))
        let base = 1 << top
        let step = max(base / 4, 1)
        return (n + step - 1) / step * step
    }
}
