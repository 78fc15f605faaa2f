import CAtelier
import Foundation

/// Loads the OpenCL ICD loader at run time and prepares the environment
/// drivers expect, once per process.
enum OpenCLLibrary {
    /// Environment variable naming the ICD loader to load instead of
    /// libOpenCL.so.1 (also how tests simulate a machine without one).
    static let libraryVariable = "ATELIER_OPENCL_LIBRARY"

    private static let loadResult: Result<Void, OpenCLError> = {
        ensurePoclCacheDirectory()
        let path = ProcessInfo.processInfo.environment[libraryVariable]
        var message = [CChar](repeating: 0, count: 512)
        let ok = atelier_cl_load(path, &message, message.count)
        if ok == 1 { return .success(()) }
        let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return .failure(.unavailable("the OpenCL ICD loader could not be loaded (\(reason))"))
    }()

    static func load() throws {
        try loadResult.get()
    }

    /// PoCL fails device discovery (clGetDeviceIDs returns -1) when it cannot
    /// write its kernel cache. It tries POCL_CACHE_DIR, then XDG_CACHE_HOME,
    /// then ~/.cache; when none is writable, point it at a private temp dir.
    static func ensurePoclCacheDirectory() {
        let env = ProcessInfo.processInfo.environment
        if env["POCL_CACHE_DIR"] != nil { return }
        let fm = FileManager.default
        let candidates = [env["XDG_CACHE_HOME"], env["HOME"].map { $0 + "/.cache" }].compactMap { $0 }
        for dir in candidates {
            if (try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil,
               fm.isWritableFile(atPath: dir) {
                return
            }
        }
        let fallback = NSTemporaryDirectory() + "atelier-pocl-\(getuid())"
        try? fm.createDirectory(atPath: fallback, withIntermediateDirectories: true)
        setenv("POCL_CACHE_DIR", fallback, 1)
    }
}
