import Foundation

/// Tunings chosen by `atelier-bench --tune --save`, one JSON file per
/// device (platform, device name and driver version), in the user's cache.
public enum TuningStore {
    public static func url(for device: OpenCLDeviceInfo) -> URL? {
        guard let kernels = ProgramCache.defaultDirectory() else { return nil }
        let key = "\(device.platformName)|\(device.name)|\(device.vendor)|\(device.driverVersion)"
        return kernels.deletingLastPathComponent().appendingPathComponent("tuning")
            .appendingPathComponent("\(Hash.hex(key)).json")
    }

    /// The saved tuning, or nil when there is none or it cannot be read
    /// (an unreadable file is ignored: defaults are always safe).
    public static func load(for device: OpenCLDeviceInfo) -> DeviceTuning? {
        guard let url = url(for: device), let data = try? Data(contentsOf: url),
              let tuning = try? JSONDecoder().decode(DeviceTuning.self, from: data),
              (try? tuning.validate(maxWorkGroupSize: device.maxWorkGroupSize)) != nil else { return nil }
        return tuning
    }

    public static func save(_ tuning: DeviceTuning, for device: OpenCLDeviceInfo) throws -> URL {
        try write(tuning, to: url(for: device))
    }

    /// Writes a tuning file atomically (the CPU path's too).
    static func write(_ tuning: some Encodable, to url: URL?) throws -> URL {
        guard let url else {
            throw KernelSourceError("no writable cache directory for the tuning file (set ATELIER_CACHE_DIR)")
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(tuning).write(to: url, options: .atomic)
        return url
    }
}
