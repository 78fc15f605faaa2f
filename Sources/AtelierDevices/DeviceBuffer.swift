/// Memory a backend owns: host memory on the CPU path, a `cl_mem` on OpenCL.
/// Only the backend that made it looks inside.
public protocol BufferStorage: AnyObject, Sendable {
    /// Capacity in floats.
    var capacity: Int { get }
}

/// A float32 buffer on a device. When the last reference goes away its
/// storage returns to the backend's pool, so a training step that asks for
/// the same sizes every time allocates nothing after the first.
public final class DeviceBuffer: @unchecked Sendable {
    // Safe to share: `count` and `storage` never change, and the storage's
    // contents are only touched by the owning backend's queue.
    /// Floats it holds.
    public let count: Int
    /// The device memory behind it (perhaps shared with other views).
    public let storage: BufferStorage
    private let pool: BufferPool?

    /// A buffer of `count` floats in `storage`, returned to `pool` when released.
    public init(count: Int, storage: BufferStorage, pool: BufferPool?) {
        precondition(count <= storage.capacity)
        self.count = count
        self.storage = storage
        self.pool = pool
    }

    deinit {
        pool?.recycle(storage)
    }
}
