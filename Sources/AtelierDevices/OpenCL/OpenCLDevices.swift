import CAtelier

/// What `atelier devices` shows about one OpenCL device.
public struct OpenCLDeviceInfo: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case gpu, cpu, accelerator, other }

    /// Indices as listed: platform P, device D, written "P:D".
    public let platformIndex: Int
    public let deviceIndex: Int
    public let platformName: String
    public let platformVersion: String
    public let name: String
    public let vendor: String
    public let kind: Kind
    public let computeUnits: Int
    public let globalMemoryBytes: UInt64
    public let localMemoryBytes: UInt64
    /// "local" (dedicated, as on GPUs) or "global" (emulated, as on CPUs).
    public let localMemoryType: String
    public let maxWorkGroupSize: Int
    public let openCLCVersion: String
    public let driverVersion: String
    /// CL_DEVICE_MEM_BASE_ADDR_ALIGN: sub-buffer origins must be multiples.
    public let baseAddressAlignmentBits: UInt32

    public var id: String { "\(platformIndex):\(deviceIndex)" }
    var hasDedicatedLocalMemory: Bool { localMemoryType == "local" }
}

/// A device found on this machine: its description and its handle.
struct OpenCLDeviceHandle: @unchecked Sendable {
    // cl_device_id values stay valid for the life of the process and may be
    // used from any thread.
    let info: OpenCLDeviceInfo
    let platform: OpaquePointer
    let device: OpaquePointer
}

public enum OpenCLDevices {
    /// Every device of every platform, in the loader's order. Throws
    /// `OpenCLError.unavailable` when there is no OpenCL at all.
    public static func list() throws -> [OpenCLDeviceInfo] {
        try handles().map(\.info)
    }

    nonisolated(unsafe) private static var cached: Result<[OpenCLDeviceHandle], OpenCLError>?
    private static let lock = NSLock()

    static func handles() throws -> [OpenCLDeviceHandle] {
        try lock.withLock {
            if let cached { return try cached.get() }
            let result: Result<[OpenCLDeviceHandle], OpenCLError>
            do {
                result = .success(try enumerate())
            } catch let error as OpenCLError {
                result = .failure(error)
            }
            cached = result
            return try result.get()
        }
    }

    private static func enumerate() throws(OpenCLError) -> [OpenCLDeviceHandle] {
        do { try OpenCLLibrary.load() } catch { throw error as! OpenCLError }
        var platformCount: cl_uint = 0
        let status = aclGetPlatformIDs(0, nil, &platformCount)
        // -1001: the loader found no ICD; it means "no OpenCL here".
        if status == -1001 || (status == 0 && platformCount == 0) {
            throw .unavailable("no OpenCL platform is installed (the ICD loader found no vendor file in /etc/OpenCL/vendors or OCL_ICD_VENDORS)")
        }
        guard status == 0 else { throw .call(function: "clGetPlatformIDs", code: status) }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        let listed = aclGetPlatformIDs(platformCount, &platforms, nil)
        guard listed == 0 else { throw .call(function: "clGetPlatformIDs", code: listed) }

        var found: [OpenCLDeviceHandle] = []
        var empty: [String] = []
        for (p, platform) in platforms.enumerated() {
            guard let platform else { continue }
            var deviceCount: cl_uint = 0
            let s = aclGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            // -1: this platform has no device (PoCL says so when its cache
            // directory is unusable); skip it rather than fail.
            if s == -1 || deviceCount == 0 {
                empty.append(platformString(platform, CL_PLATFORM_NAME))
                continue
            }
            guard s == 0 else { throw .call(function: "clGetDeviceIDs", code: s) }
            var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            let d = aclGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil)
            guard d == 0 else { throw .call(function: "clGetDeviceIDs", code: d) }
            for (i, device) in devices.enumerated() {
                guard let device else { continue }
                found.append(OpenCLDeviceHandle(info: describe(platform, device, p, i), platform: platform, device: device))
            }
        }
        if found.isEmpty {
            if empty.contains(where: { $0.contains("Portable Computing Language") }), let problem = poclCacheProblem() {
                throw .unusable(problem)
            }
            throw .unavailable("OpenCL platforms were found but none has a usable device")
        }
        return found
    }

    /// PoCL offers no device when it cannot write its kernel cache: why, if so.
    private static func poclCacheProblem() -> String? {
        let environment = ProcessInfo.processInfo.environment
        let set = environment["POCL_CACHE_DIR"]
        let folder = set ?? ((environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/pocl")
        let probe = folder + "/.atelier-write-test-\(getpid())"
        if (try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)) != nil,
           FileManager.default.createFile(atPath: probe, contents: Data()) {
            try? FileManager.default.removeItem(atPath: probe)
            return nil
        }
        return "PoCL offers no device because it cannot write its kernel cache in \(folder)"
            + (set != nil ? " (POCL_CACHE_DIR)" : "") + "; set POCL_CACHE_DIR to a folder you can write, e.g. POCL_CACHE_DIR=/tmp/pocl-cache"
    }

    private static func describe(_ platform: OpaquePointer, _ device: OpaquePointer, _ p: Int, _ d: Int) -> OpenCLDeviceInfo {
        let type: cl_device_type = deviceValue(device, CL_DEVICE_TYPE) ?? 0
        let kind: OpenCLDeviceInfo.Kind =
            type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? .gpu :
            type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? .accelerator :
            type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? .cpu : .other
        let localType: cl_device_local_mem_type = deviceValue(device, CL_DEVICE_LOCAL_MEM_TYPE) ?? 0
        let units: cl_uint = deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS) ?? 0
        let wg: Int = deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE) ?? 1
        return OpenCLDeviceInfo(
            platformIndex: p, deviceIndex: d,
            platformName: platformString(platform, CL_PLATFORM_NAME),
            platformVersion: platformString(platform, CL_PLATFORM_VERSION),
            name: deviceString(device, CL_DEVICE_NAME),
            vendor: deviceString(device, CL_DEVICE_VENDOR),
            kind: kind,
            computeUnits: Int(units),
            globalMemoryBytes: deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE) ?? 0,
            localMemoryBytes: deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE) ?? 0,
            localMemoryType: localType == cl_device_local_mem_type(CL_LOCAL) ? "local" : "global",
            maxWorkGroupSize: wg,
            openCLCVersion: deviceString(device, CL_DEVICE_OPENCL_C_VERSION),
            driverVersion: deviceString(device, CL_DRIVER_VERSION),
            baseAddressAlignmentBits: deviceValue(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN) ?? 1024)
    }

    static func deviceValue<T>(_ device: OpaquePointer, _ param: Int32) -> T? {
        var value = [UInt8](repeating: 0, count: MemoryLayout<T>.size)
        let status = value.withUnsafeMutableBytes {
            aclGetDeviceInfo(device, cl_device_info(param), MemoryLayout<T>.size, $0.baseAddress, nil)
        }
        guard status == 0 else { return nil }
        return value.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    static func deviceString(_ device: OpaquePointer, _ param: Int32) -> String {
        infoString { aclGetDeviceInfo(device, cl_device_info(param), $0, $1, $2) }
    }

    static func platformString(_ platform: OpaquePointer, _ param: Int32) -> String {
        infoString { aclGetPlatformInfo(platform, cl_platform_info(param), $0, $1, $2) }
    }

    private static func infoString(_ query: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> Int32) -> String {
        var size = 0
        guard query(0, nil, &size) == 0, size > 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: size)
        guard bytes.withUnsafeMutableBytes({ query(size, $0.baseAddress, nil) }) == 0 else { return "" }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }
}

import Foundation
