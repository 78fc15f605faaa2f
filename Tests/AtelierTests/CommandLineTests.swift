import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining
@testable import AtelierBench

/// The command-line tools as a user runs them, including on machines without
/// OpenCL. Each run is a fresh process, so OpenCL environment variables apply.
@Suite(.serialized)
struct CommandLineTests {
    @Test("atelier devices lists every field and what auto chooses", .requiresOpenCL)
    func devices() throws {
        let text = try Executables.run("atelier", ["devices"])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        for field in ["opencl:0:0", "vendor", "type", "compute units", "global memory", "local memory",
                      "OpenCL C", "driver", "--device auto chooses:"] {
            #expect(text.stdout.contains(field), "missing \(field) in:\n\(text.stdout)")
        }
        let json = try Executables.run("atelier", ["devices", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let devices = object?["devices"] as? [[String: Any]] ?? []
        #expect(!devices.isEmpty, "no devices in JSON:\n\(json.stdout)")
        for key in ["platformIndex", "deviceIndex", "name", "vendor", "kind", "computeUnits", "globalMemoryBytes",
                    "localMemoryBytes", "localMemoryType", "openCLCVersion", "driverVersion"] {
            #expect(devices.first?[key] != nil, "device JSON lacks \(key)")
        }
        let auto = object?["auto"] as? String
        let expected = DeviceChoice.autoPick(try OpenCLDevices.list()).map { "opencl:\($0.id)" } ?? "cpu"
        #expect(auto == expected)
    }

    @Test("With OCL_ICD_VENDORS pointing at an empty directory, auto picks the CPU path and opencl fails clearly")
    func noICD() throws {
        let empty = try temporaryDirectory("vendors")
        defer { try? FileManager.default.removeItem(at: empty) }
        let env = ["OCL_ICD_VENDORS": empty.path]
        let json = try Executables.run("atelier", ["devices", "--json"], environment: env)
        #expect(json.status == 0, "stderr: \(json.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["auto"] as? String == "cpu")
        #expect((object?["devices"] as? [Any])?.isEmpty == true)
        #expect((object?["openCLUnavailable"] as? String)?.contains("no OpenCL platform") == true, "\(json.stdout)")
        // The CPU path is listed in JSON as in the text.
        let cpu = object?["cpu"] as? [String: Any]
        #expect(cpu?["id"] as? String == "cpu" && (cpu?["cores"] as? Int ?? 0) >= 1, "\(json.stdout)")

        let explicit = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "relu fwd"], environment: env)
        #expect(explicit.status != 0)
        #expect(explicit.stderr.contains("--device opencl asks for OpenCL, but none was found")
                && explicit.stderr.contains("--device cpu"), "stderr: \(explicit.stderr)")
    }

    @Test("PoCL gets a writable cache directory when the user's home is not writable", .requiresOpenCL)
    func unwritableHome() throws {
        let run = try Executables.run("atelier", ["devices", "--json"], environment: ["HOME": "/proc/atelier-no-home"],
                                      removing: ["POCL_CACHE_DIR", "XDG_CACHE_HOME"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect((object?["devices"] as? [Any])?.isEmpty == false, "no device without a writable home:\n\(run.stdout)")
    }

    @Test("atelier --version prints the release")
    func version() throws {
        let run = try Executables.run("atelier", ["--version"])
        #expect(run.status == 0 && run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == AtelierVersion.release, "\(run.stdout) \(run.stderr)")
    }

    @Test("Without an ICD loader the tools start and the CPU path runs")
    func noLoader() throws {
        let env = ["ATELIER_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1"]
        let devices = try Executables.run("atelier", ["devices"], environment: env)
        #expect(devices.status == 0, "stderr: \(devices.stderr)")
        #expect(devices.stdout.contains("No OpenCL devices") && devices.stdout.contains("ICD loader could not be loaded")
                && devices.stdout.contains("--device auto chooses: cpu"), "\(devices.stdout)")
        let bench = try Executables.run("atelier-bench", ["--device", "auto", "--kernel", "relu fwd", "--repeats", "1"], environment: env)
        #expect(bench.status == 0, "stderr: \(bench.stderr)")
        #expect(bench.stdout.contains("device: cpu") && bench.stdout.contains("relu fwd 1M"), "\(bench.stdout)")
    }

    @Test("The binaries do not link libOpenCL (it is loaded at run time)")
    func notLinked() throws {
        for name in ["atelier", "atelier-bench"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
            process.arguments = [Executables.directory.appendingPathComponent(name).path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(text.contains("libc.so"), "ldd output: \(text)")
            #expect(!text.contains("libOpenCL"), "\(name) links libOpenCL:\n\(text)")
        }
    }

    @Test("ATELIER_KERNEL_DIR overrides the embedded kernels without a rebuild", .requiresOpenCL)
    func kernelOverride() throws {
        let dir = try temporaryDirectory("kernel-dir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = try temporaryDirectory("kernel-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let original = try KernelSources.source(named: "pointwise.cl")
        let env = ["ATELIER_KERNEL_DIR": dir.path, "ATELIER_CACHE_DIR": cache.path]

        // An edited kernel is picked up: here it zeroes every result, and the
        // benchmark's check against the CPU path catches it.
        let edited = original.replacingOccurrences(of: "  PW_BODY\n", with: "  PW_BODY\n  PW_ZERO_OUTPUTS\n")
            .replacingOccurrences(of: "#define PW_CAT_(a, b) a##b", with: "#define PW_ZERO_OUTPUTS y = 0.0f;\n#define PW_CAT_(a, b) a##b")
        try edited.write(to: dir.appendingPathComponent("pointwise.cl"), atomically: true, encoding: .utf8)
        let wrong = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "relu fwd", "--repeats", "1"], environment: env)
        #expect(wrong.status != 0)
        #expect(wrong.stdout.contains("differs from the CPU path"), "stdout: \(wrong.stdout)\nstderr: \(wrong.stderr)")

        // A kernel that does not compile: the error carries the build log.
        try (original + "\nthis is not OpenCL C;\n").write(to: dir.appendingPathComponent("pointwise.cl"), atomically: true, encoding: .utf8)
        let broken = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "relu fwd", "--repeats", "1"], environment: env)
        #expect(broken.status != 0)
        #expect(broken.stderr.contains("OpenCL kernel pointwise.cl failed to build") && broken.stderr.contains("build log:")
                && broken.stderr.contains("error"), "stderr: \(broken.stderr)")

        // Files not in the directory come from the embedded copy.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("pointwise.cl"))
        let restored = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "relu fwd", "--repeats", "1"], environment: env)
        #expect(restored.status == 0, "stderr: \(restored.stderr)")

        let missing = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "relu fwd"],
                                          environment: ["ATELIER_KERNEL_DIR": "/nonexistent/kernels"])
        #expect(missing.status != 0 && missing.stderr.contains("ATELIER_KERNEL_DIR=/nonexistent/kernels is not a directory"),
                "stderr: \(missing.stderr)")
    }

    @Test("atelier-bench checks against the CPU path and writes JSON", .requiresOpenCL)
    func benchJSON() throws {
        let run = try Executables.run("atelier-bench", ["--device", "opencl", "--kernel", "gemm 256", "--kernel", "sigmoid fwd",
                                                        "--repeats", "2", "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let results = object?["results"] as? [[String: Any]] ?? []
        #expect(results.count == 2, "results: \(results)")
        for r in results {
            #expect(r["checked"] as? Bool == true)
            #expect((r["maxRelativeError"] as? Double ?? 1) < 1e-3)
            #expect((r["milliseconds"] as? Double ?? 0) > 0)
        }
        #expect((object?["peak"] as? [String: Any])?["gflops"] as? Double ?? 0 > 0)
    }

    @Test("atelier-bench rejects bad options with a usage message")
    func benchBadOptions() throws {
        let run = try Executables.run("atelier-bench", ["--device", "cpu", "--kernel", "no such case"])
        #expect(run.status != 0 && run.stderr.contains("no case matches"), "stderr: \(run.stderr)")
        let device = try Executables.run("atelier-bench", ["--device", "tpu"])
        #expect(device.status != 0 && device.stderr.contains("unknown device 'tpu'"), "stderr: \(device.stderr)")
        let save = try Executables.run("atelier-bench", ["--device", "cpu", "--save"])
        #expect(save.status != 0 && save.stderr.contains("--save only applies with --tune"), "stderr: \(save.stderr)")
        let conv = try Executables.run("atelier-bench", ["--device", "cpu", "--conv", "fft"])
        #expect(conv.status != 0 && conv.stderr.contains("--conv takes 'columns'"), "stderr: \(conv.stderr)")
        let cpuConv = try Executables.run("atelier-bench", ["--device", "cpu", "--conv", "direct:16:8", "--kernel", "gan D.conv1"])
        #expect(cpuConv.status != 0 && cpuConv.stderr.contains("is an OpenCL algorithm"), "stderr: \(cpuConv.stderr)")
    }

    @Test("atelier-bench --device cpu --conv chooses how many-channel layers run, and the report says which",
          arguments: ["pixel-major", "indirect", "winograd"])
    func benchCPUConvolution(choice: String) throws {
        let run = try Executables.run("atelier-bench", ["--device", "cpu", "--conv", choice, "--kernel", "gan D.conv2",
                                                        "--batches", "3", "--repeats", "1", "--warmup", "0", "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        #expect((object?["results"] as? [[String: Any]] ?? []).count >= 3)
        let tuning = object?["tuning"] as? String ?? ""
        #expect(tuning.contains("indirect") == (choice != "pixel-major") && tuning.contains("winograd") == (choice == "winograd"),
                "tuning: \(tuning)")
    }

    @Test("atelier-bench --handoff times a region's hand-off on the worker pool and with GCD")
    func benchHandoff() throws {
        let run = try Executables.run("atelier-bench", ["--handoff"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        for name in ["worker pool (cpu_pool.c)", "GCD concurrentPerform"] {
            let line = lines.first { $0.hasPrefix(name + ": ") }.map(String.init) ?? ""
            // "<name>: <region> us per region of <cores> items of 66 us ..., the last core started after <join> us"
            let numbers = line.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
            #expect(numbers.count >= 5, "\(name): \(run.stdout)")
            // A region lasts at least its item, and no core starts after the region ended.
            if numbers.count >= 5 { #expect(numbers[0] >= 60 && numbers.last! <= numbers[0], "\(line)") }
        }
    }

    @Test("atelier-bench --conv computes the convolutions with the forced algorithm, checked against the CPU path",
          .requiresOpenCL, arguments: ["implicit:4:8", "direct:8:4"])
    func benchForcedConvolution(algorithm: String) throws {
        let run = try Executables.run("atelier-bench", ["--device", "opencl", "--conv", algorithm, "--kernel", "D.conv1 1->32",
                                                        "--batches", "3", "--repeats", "1", "--warmup", "0", "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let results = object?["results"] as? [[String: Any]] ?? []
        #expect(results.count == 3 && results.allSatisfy { $0["checked"] as? Bool == true }, "results: \(results)")
        let forced = ConvAlgorithm(parsing: algorithm)!.description
        #expect((object?["tuning"] as? String ?? "").contains("convolution=\(forced)"), "tuning: \(object?["tuning"] ?? "none")")
    }

    @Test("atelier-bench --device cpu --tune --save stores the CPU path's tuning, and the CPU path uses it")
    func cpuTuning() throws {
        let cache = try temporaryDirectory("cpu-tuning")
        defer { try? FileManager.default.removeItem(at: cache) }
        let run = try Executables.run("atelier-bench", ["--device", "cpu", "--tune", "--save", "--batches", "2", "--repeats", "1"],
                                      environment: ["ATELIER_CACHE_DIR": cache.path])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("best on the CPU path: conv-chunk=") && run.stderr.contains("saved to"), "stderr: \(run.stderr)")
        // Keyed by this CPU under the cache: where a later CPUBackend() looks.
        let file = try #require(CPUTuningStore.url(cacheRoot: cache))
        let saved = try #require(CPUTuningStore.load(from: file), "no readable tuning at \(file.path)")
        #expect(CPUTuner.chunkSizes.contains(saved.convolutionChunkBytes))
        #expect(CPUTuner.pixelMajorThresholds.contains(saved.pixelMajorMinChannels))
        #expect(run.stderr.contains("indirect [1/2]") && run.stderr.contains("indirect [2/2]"), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("winograd [1/2]") && run.stderr.contains("winograd [2/2]"), "stderr: \(run.stderr)")
    }
}
