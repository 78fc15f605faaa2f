import CAtelier
import Foundation

/// Built programs, in memory for the process and as device binaries on disk
/// across runs. The key covers everything that changes the binary: source,
/// build options, platform, device and driver version. A disk entry that is
/// unreadable, truncated, of another key or refused by the driver is rebuilt
/// from source and overwritten, never fatal.
final class ProgramCache: @unchecked Sendable {
    // Safe to share: `programs` is guarded by `lock`; builds of different
    // programs may run concurrently, which OpenCL allows.
    private let context: CLContext
    private let device: OpenCLDeviceHandle
    private let directory: URL?
    private let lock = NSLock()
    private var programs: [String: CLProgram] = [:]

    /// Builds from source (cold builds), for reports and tests.
    private(set) var sourceBuilds = 0
    /// Programs loaded from the disk cache.
    private(set) var diskHits = 0
    /// Called before a build from source starts (it can take a second on PoCL).
    var onSourceBuild: (@Sendable (String) -> Void)?

    init(context: CLContext, device: OpenCLDeviceHandle, directory: URL? = ProgramCache.defaultDirectory()) {
        self.context = context
        self.device = device
        self.directory = directory
    }

    /// The cache's `kernels` folder (CacheDirectory); nil (memory only) when
    /// none can be written.
    static func defaultDirectory() -> URL? { CacheDirectory.folder("kernels") }

    func program(file: String, source: String, options: String) throws -> CLProgram {
        let info = device.info
        let key = """
        atelier-program-v1
        source \(Hash.hex(source)) \(source.utf8.count)
        options \(options)
        platform \(info.platformName) \(info.platformVersion)
        device \(info.name) \(info.vendor)
        driver \(info.driverVersion)
        """
        if let program = lock.withLock({ programs[key] }) { return program }
        let program: CLProgram
        if let cached = loadFromDisk(key: key, options: options) {
            program = cached
            lock.withLock { diskHits += 1 }
        } else {
            onSourceBuild?(file)
            program = try buildFromSource(file: file, source: source, options: options)
            lock.withLock { sourceBuilds += 1 }
            saveToDisk(program, key: key)
        }
        lock.withLock { programs[key] = program }
        return program
    }

    private func buildFromSource(file: String, source: String, options: String) throws -> CLProgram {
        var status: cl_int = 0
        let created: OpaquePointer? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            return aclCreateProgramWithSource(context.handle, 1, &pointer, nil, &status)
        }
        guard let created, status == 0 else {
            throw OpenCLError.call(function: "clCreateProgramWithSource(\(file))", code: status)
        }
        let program = CLProgram(created)
        var dev: cl_device_id? = device.device
        let built = aclBuildProgram(program.handle, 1, &dev, options, nil, nil)
        if built != 0 {
            let log = buildLog(program)
            if built == -11 || !log.isEmpty {
                throw OpenCLError.build(kernelFile: file, options: options,
                                        device: "\(device.info.id) \(device.info.name)", log: log)
            }
            throw OpenCLError.call(function: "clBuildProgram(\(file))", code: built)
        }
        return program
    }

    private func buildLog(_ program: CLProgram) -> String {
        var size = 0
        guard aclGetProgramBuildInfo(program.handle, device.device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == 0,
              size > 1 else { return "" }
        var bytes = [UInt8](repeating: 0, count: size)
        _ = bytes.withUnsafeMutableBytes {
            aclGetProgramBuildInfo(program.handle, device.device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, $0.baseAddress, nil)
        }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Disk entries: magic, key length, key, binary length, binary, checksum.

    private static let magic = Array("ATLKBIN1".utf8)

    private func path(for key: String) -> URL? {
        directory?.appendingPathComponent(Hash.hex(key) + ".bin")
    }

    private func loadFromDisk(key: String, options: String) -> CLProgram? {
        guard let url = path(for: key), let data = try? Data(contentsOf: url),
              let binary = Self.decode(data, key: key) else { return nil }
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var dev: cl_device_id? = device.device
        var length = binary.count
        let created: OpaquePointer? = binary.withUnsafeBufferPointer { bytes in
            var pointer: UnsafePointer<UInt8>? = bytes.baseAddress
            return aclCreateProgramWithBinary(context.handle, 1, &dev, &length, &pointer, &binaryStatus, &status)
        }
        guard let created, status == 0, binaryStatus == 0 else {
            if let created { _ = aclReleaseProgram(created) }
            return nil
        }
        let program = CLProgram(created)
        guard aclBuildProgram(program.handle, 1, &dev, options, nil, nil) == 0 else { return nil }
        return program
    }

    private func saveToDisk(_ program: CLProgram, key: String) {
        guard let url = path(for: key) else { return }
        var size = 0
        guard aclGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == 0,
              size > 0 else { return }
        var binary = [UInt8](repeating: 0, count: size)
        let ok = binary.withUnsafeMutableBufferPointer { bytes -> Bool in
            var pointer: UnsafeMutablePointer<UInt8>? = bytes.baseAddress
            return aclGetProgramInfo(program.handle, cl_program_info(CL_PROGRAM_BINARIES),
                                     MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil) == 0
        }
        guard ok else { return }
        // Written beside the target and renamed: a reader never sees half a file.
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try Self.encode(binary, key: key).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            // A cache that cannot be written only costs a rebuild next run.
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    static func encode(_ binary: [UInt8], key: String) -> Data {
        var data = Data(magic)
        let keyBytes = Array(key.utf8)
        withUnsafeBytes(of: UInt32(keyBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: keyBytes)
        withUnsafeBytes(of: UInt64(binary.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: binary)
        withUnsafeBytes(of: Hash.fnv1a(binary).littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    static func decode(_ data: Data, key: String) -> [UInt8]? {
        let bytes = [UInt8](data)
        var offset = 0
        func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard n >= 0, offset + n <= bytes.count else { return nil }
            defer { offset += n }
            return bytes[offset..<offset + n]
        }
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let raw = take(MemoryLayout<T>.size) else { return nil }
            return raw.reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        guard take(magic.count).map(Array.init) == magic,
              let keyLength = integer(UInt32.self),
              let storedKey = take(Int(keyLength)), Array(storedKey) == Array(key.utf8),
              let binaryLength = integer(UInt64.self), binaryLength < UInt64(Int.max),
              let binary = take(Int(binaryLength)).map(Array.init),
              let checksum = integer(UInt64.self), checksum == Hash.fnv1a(binary),
              offset == bytes.count
        else { return nil }
        return binary
    }
}

/// FNV-1a, 64-bit: a cache key, not a security boundary (the full key is
/// stored in the entry and compared on load).
enum Hash {
    static func fnv1a<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return h
    }

    static func hex(_ text: String) -> String {
        let h = fnv1a(text.utf8)
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
