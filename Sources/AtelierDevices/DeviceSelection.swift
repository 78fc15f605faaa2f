/// `--device auto | cpu | opencl | opencl:P:D` (README, "Devices"),
/// and `reference`: the plain reference backend (slow; for checking numerics).
public enum DeviceChoice: Sendable, Equatable, CustomStringConvertible {
    /// An OpenCL GPU or accelerator if there is one, else the CPU path
    /// (OpenBLAS beats OpenCL-on-PoCL on CPUs).
    case auto
    case cpu
    case reference
    /// The first GPU, else the first OpenCL device.
    case opencl
    /// Platform P, device D, as `atelier devices` lists them.
    case openclDevice(platform: Int, device: Int)

    /// Parses `--device`'s value; throws naming what it takes.
    public init(parsing text: String) throws {
        let lower = text.lowercased()
        switch lower {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "reference": self = .reference
        case "opencl": self = .opencl
        default:
            let parts = lower.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "opencl", let p = Int(parts[1]), let d = Int(parts[2]), p >= 0, d >= 0 else {
                throw DeviceSelectionError.unparsable(text)
            }
            self = .openclDevice(platform: p, device: d)
        }
    }

    /// The value as `--device` takes it.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .cpu: "cpu"
        case .reference: "reference"
        case .opencl: "opencl"
        case .openclDevice(let p, let d): "opencl:\(p):\(d)"
        }
    }

    /// What `auto` would pick among `devices` (nil: the CPU path).
    public static func autoPick(_ devices: [OpenCLDeviceInfo]) -> OpenCLDeviceInfo? {
        devices.first { $0.kind == .gpu } ?? devices.first { $0.kind == .accelerator }
    }

    /// A backend for this choice. An explicit choice that cannot be honoured
    /// is an error naming what exists, never a silent fallback.
    public func makeBackend(profiling: Bool = false) throws -> Backend {
        switch self {
        case .cpu:
            return CPUBackend()
        case .reference:
            return ReferenceBackend()
        case .auto:
            guard let devices = try? OpenCLDevices.handles(),
                  let pick = DeviceChoice.autoPick(devices.map(\.info)),
                  let handle = devices.first(where: { $0.info == pick }) else {
                return CPUBackend()
            }
            return try OpenCLBackend(handle: handle, profiling: profiling, tuning: nil)
        case .opencl:
            let devices: [OpenCLDeviceHandle]
            do { devices = try OpenCLDevices.handles() } catch {
                throw DeviceSelectionError.noOpenCL(requested: description, reason: "\(error)")
            }
            let handle = devices.first { $0.info.kind == .gpu } ?? devices[0]
            return try OpenCLBackend(handle: handle, profiling: profiling, tuning: nil)
        case .openclDevice:
            let devices: [OpenCLDeviceHandle]
            do { devices = try OpenCLDevices.handles() } catch {
                throw DeviceSelectionError.noOpenCL(requested: description, reason: "\(error)")
            }
            let id = String(description.dropFirst("opencl:".count))
            guard let handle = devices.first(where: { $0.info.id == id }) else {
                throw DeviceSelectionError.unknownOpenCLDevice(id, available: devices.map(\.info))
            }
            return try OpenCLBackend(handle: handle, profiling: profiling, tuning: nil)
        }
    }
}

/// A device that cannot be chosen, and why.
public enum DeviceSelectionError: Error, CustomStringConvertible, Sendable {
    case unparsable(String)
    case noOpenCL(requested: String, reason: String)
    case unknownOpenCLDevice(String, available: [OpenCLDeviceInfo])

    /// The message, naming the devices there are.
    public var description: String {
        switch self {
        case .unparsable(let text):
            return "unknown device '\(text)': use auto, cpu, opencl, opencl:P:D (see `atelier devices`) or reference"
        case .noOpenCL(let requested, let reason):
            return "--device \(requested) asks for OpenCL, but none was found. \(reason)"
        case .unknownOpenCLDevice(let id, let available):
            let list = available.map { "  opencl:\($0.id)  \($0.name) (\($0.kind.rawValue))" }.joined(separator: "\n")
            return "there is no OpenCL device \(id). Devices on this machine:\n\(list)\nor use --device cpu"
        }
    }
}
