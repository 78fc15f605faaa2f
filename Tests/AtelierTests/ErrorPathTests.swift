import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// What a user sees when something is wrong: each error names the problem
/// and the fix.
struct ErrorPathTests {
    @Test("An unparsable --device names the accepted forms")
    func unparsableDevice() throws {
        #expect(throws: DeviceSelectionError.self) { try DeviceChoice(parsing: "gpu0") }
        do {
            _ = try DeviceChoice(parsing: "opencl:x")
            Issue.record("opencl:x was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("opencl:x") && text.contains("auto, cpu, opencl, opencl:P:D") && text.contains("reference"), "message: \(text)")
        }
        #expect(try DeviceChoice(parsing: "OpenCL:1:2") == .openclDevice(platform: 1, device: 2))
        #expect(try DeviceChoice(parsing: "cpu") == .cpu)
    }

    @Test("An unknown OpenCL device id lists the devices that exist", .requiresOpenCL)
    func unknownDevice() throws {
        do {
            _ = try DeviceChoice.openclDevice(platform: 9, device: 9).makeBackend()
            Issue.record("opencl:9:9 was accepted")
        } catch {
            let text = "\(error)"
            let first = try OpenCLDevices.list()[0]
            #expect(text.contains("no OpenCL device 9:9") && text.contains("opencl:\(first.id)") && text.contains("--device cpu"),
                    "message: \(text)")
        }
    }

    @Test("A kernel that does not compile reports file, options and the build log", .requiresOpenCL)
    func buildFailure() throws {
        let cl = try OpenCLTestSupport.backend()
        do {
            _ = try cl.kernel(file: "reduce.cl", name: "reduce_partial", options: "-DCR_WG=1",
                              prelude: "#define REDUCE_MAP (a +* undeclared_thing)")
            Issue.record("a broken kernel built")
        } catch let error as OpenCLError {
            guard case .build(let file, let options, _, let log) = error else {
                Issue.record("expected a build error, got \(error)")
                return
            }
            #expect(file == "reduce.cl")
            #expect(options.contains("-DCR_WG=1"))
            #expect(log.contains("undeclared_thing"), "build log: \(log)")
            let text = error.description
            #expect(text.contains("failed to build") && text.contains("build log:") && text.contains("build options:"))
        }
    }

    @Test("OpenCL codes are reported by name, with a hint where one helps")
    func errorNames() {
        #expect(OpenCLError.name(of: -5) == "CL_OUT_OF_RESOURCES")
        #expect(OpenCLError.name(of: -1001) == "CL_PLATFORM_NOT_FOUND_KHR")
        #expect(OpenCLError.name(of: -9999) == "unknown OpenCL error")
        let text = OpenCLError.call(function: "clCreateBuffer(1024 bytes)", code: -4).description
        #expect(text.contains("clCreateBuffer(1024 bytes)") && text.contains("CL_MEM_OBJECT_ALLOCATION_FAILURE")
                && text.contains("--batch-size"), "message: \(text)")
    }

    @Test("Buffers of the wrong size are refused with both sizes named")
    func shapeErrors() throws {
        let cpu = CPUBackend()
        let a = try cpu.buffer(count: 6), b = try cpu.buffer(count: 6), c = try cpu.buffer(count: 5)
        do {
            try cpu.gemm(GemmShape(m: 2, n: 2, k: 3), a: a, b: b, c: c)
            Issue.record("a 5-float C was accepted for a 2x2 result")
        } catch {
            #expect("\(error)".contains("holds 5 floats but the shape needs 4"), "message: \(error)")
        }
        let g = ConvGeometry(batch: 1, inChannels: 1, height: 2, width: 2, outChannels: 1, kernel: 5)
        #expect(throws: ShapeError.self) {
            try cpu.convolutionForward(g, input: try cpu.buffer(count: 4), weight: try cpu.buffer(count: 25), output: try cpu.buffer(count: 1))
        }
        #expect(throws: ShapeError.self) {
            try cpu.pointwise(.activation(.leakyRelu(slope: -1)), count: 6, operands: [a, b])
        }
        #expect(throws: ShapeError.self) {
            _ = try cpu.batchNormForwardTraining(
                layout: ChannelLayout(outer: 1, channels: 6, inner: 1), input: a,
                state: BatchNormState(gamma: b, beta: b, runningMean: b, runningVar: b), output: b)
        }
    }
}
