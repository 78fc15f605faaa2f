import Foundation

/// 64-byte aligned host memory for the CPU path.
final class HostStorage: BufferStorage, @unchecked Sendable {
    // Safe to share: the pointer never changes; the CPU backend, used from
    // one thread at a time, is the only code that reads or writes through it.
    let capacity: Int
    let pointer: UnsafeMutablePointer<Float>
    /// Set for a view: the storage it lies in, kept alive by the view.
    private let parent: HostStorage?

    /// Throws, instead of aborting the process, for memory that cannot be
    /// had: more than the machine holds, or what the system refuses.
    init(capacity: Int) throws {
        let (bytes, overflow) = capacity.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        let physical = ProcessInfo.processInfo.physicalMemory
        guard !overflow, UInt64(bytes) <= physical else { throw OutOfMemoryError(floats: capacity) }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(bytes, 64)) == 0, let raw else { throw OutOfMemoryError(floats: capacity) }
        self.capacity = capacity
        pointer = raw.bindMemory(to: Float.self, capacity: capacity)
        parent = nil
    }

    /// `count` floats of `parent` from `offset`.
    init(viewOf parent: HostStorage, offset: Int, count: Int) {
        self.capacity = count
        self.pointer = parent.pointer + offset
        self.parent = parent
    }

    deinit {
        if parent == nil { free(pointer) }
    }
}

extension DeviceBuffer {
    /// `count` floats of this host buffer from `offset`, sharing its memory
    /// (the views of the CPU path and the reference backend).
    func hostView(offset: Int, count: Int) -> DeviceBuffer {
        guard let storage = storage as? HostStorage else { preconditionFailure("not a host buffer") }
        return DeviceBuffer(count: count, storage: HostStorage(viewOf: storage, offset: offset, count: count), pool: nil)
    }

    /// The host pointer of a CPU-path buffer.
    var host: UnsafeMutablePointer<Float> {
        guard let storage = storage as? HostStorage else {
            preconditionFailure("a buffer of another device was passed to the CPU backend")
        }
        return storage.pointer
    }
}

/// A buffer larger than memory: named with its size and the machine's, and
/// what makes a run smaller, instead of an abort.
public struct OutOfMemoryError: Error, CustomStringConvertible, Sendable {
    public let floats: Int
    public var description: String {
        let gb = { (bytes: Double) in String(format: "%.1f GB", bytes / 1e9) }
        let machine = Double(ProcessInfo.processInfo.physicalMemory)
        return "cannot allocate \(gb(Double(floats) * 4)) for one buffer (this machine has \(gb(machine)) of memory): "
            + "lower --batch-size, --image-size, --nz or --count, or use a machine with more memory"
    }
}
