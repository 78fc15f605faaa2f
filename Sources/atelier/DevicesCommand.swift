import ArgumentParser
import Atelier
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List OpenCL devices and the one --device auto would choose."
    )

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let report = DeviceReport.gather()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

/// Everything `atelier devices` says, in one value for both output forms.
struct DeviceReport: Codable {
    /// The native CPU path, always there.
    struct CPUPath: Codable {
        var id = "cpu"
        var description = "native CPU path (OpenBLAS)"
        var cores = ProcessInfo.processInfo.activeProcessorCount
        var avx512 = CPUTuning.cpuHasAVX512
    }
    var cpu = CPUPath()
    var devices: [OpenCLDeviceInfo]
    /// Why there are no OpenCL devices, when there are none.
    var openCLUnavailable: String?
    /// "opencl:P:D" or "cpu".
    var auto: String
    var autoReason: String

    static func gather() -> DeviceReport {
        do {
            let devices = try OpenCLDevices.list()
            if let pick = DeviceChoice.autoPick(devices) {
                return DeviceReport(devices: devices, openCLUnavailable: nil, auto: "opencl:\(pick.id)",
                                    autoReason: "\(pick.name) is a \(pick.kind.rawValue)")
            }
            return DeviceReport(devices: devices, openCLUnavailable: nil, auto: "cpu",
                                autoReason: "no OpenCL GPU or accelerator; the native CPU path (OpenBLAS) beats OpenCL on CPUs")
        } catch {
            return DeviceReport(devices: [], openCLUnavailable: "\(error)", auto: "cpu",
                                autoReason: "no OpenCL device")
        }
    }

    var text: String {
        var lines: [String] = []
        if let openCLUnavailable {
            lines.append("No OpenCL devices. \(openCLUnavailable)")
        }
        for d in devices {
            lines.append("opencl:\(d.id)  \(d.name)")
            lines.append("    vendor          \(d.vendor)")
            lines.append("    platform        \(d.platformName) (\(d.platformVersion))")
            lines.append("    type            \(d.kind.rawValue)")
            lines.append("    compute units   \(d.computeUnits)")
            lines.append("    global memory   \(Self.bytes(d.globalMemoryBytes))")
            lines.append("    local memory    \(Self.bytes(d.localMemoryBytes)) (\(d.localMemoryType))")
            lines.append("    max work-group  \(d.maxWorkGroupSize)")
            lines.append("    OpenCL C        \(d.openCLCVersion)")
            lines.append("    driver          \(d.driverVersion)")
        }
        lines.append("\(cpu.id)  \(cpu.description), \(cpu.cores) cores\(cpu.avx512 ? ", AVX-512" : "")")
        lines.append("")
        lines.append("--device auto chooses: \(auto) (\(autoReason))")
        return lines.joined(separator: "\n")
    }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
