import Foundation

/// 64-byte aligned host memory for the CPU path.
final class HostStorage: BufferStorage, @unchecked Sendable {
    // Safe to share: the pointer never changes; the CPU backend, used from
    // one thread at a time, is the only code that reads or writes through it.
    let capacity: Int
    let pointer: UnsafeMutablePointer<Float>
    /// Set for a view: the storage it lies in, kept alive by the view.
    private let parent: HostStorage?

    init(capacity: Int) {
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * MemoryLayout<Float>.stride, alignment: 64)
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
        if parent == nil { UnsafeMutableRawPointer(pointer).deallocate() }
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
