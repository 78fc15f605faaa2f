// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Atelier",
    products: [
        .library(name: "Atelier", targets: ["Atelier"]),
        .executable(name: "atelier", targets: ["atelier"]),
        .executable(name: "atelier-bench", targets: ["AtelierBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C headers (libpng, TurboJPEG, zlib, cblas, cairo) and the run-time OpenCL loader. OpenCL is dlopen'ed, so the
        // binaries start (and run the CPU path) where libOpenCL.so.1 is absent.
        .target(
            name: "CAtelier",
            linkerSettings: [
                .linkedLibrary("png16"),
                .linkedLibrary("turbojpeg"),
                .linkedLibrary("z"),
                .linkedLibrary("openblas"),
                .linkedLibrary("cairo"),
                .linkedLibrary("dl"),
            ]
        ),
        // The library in layers, each depending only on those below it.
        .target(
            name: "AtelierDevices",
            dependencies: ["CAtelier"],
            plugins: [.plugin(name: "EmbedKernels")]
        ),
        .target(name: "AtelierGraph", dependencies: ["AtelierDevices", "CAtelier"]),
        .target(name: "AtelierModels", dependencies: ["AtelierGraph", "AtelierDevices", "CAtelier"]),
        .target(name: "AtelierTraining", dependencies: ["AtelierModels", "AtelierGraph", "AtelierDevices"]),
        .target(name: "Atelier", dependencies: ["AtelierDevices", "AtelierGraph", "AtelierModels", "AtelierTraining"]),
        .executableTarget(
            name: "atelier",
            dependencies: [
                "Atelier",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "AtelierBench",
            dependencies: [
                "Atelier",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/AtelierBench"
        ),
        .executableTarget(name: "KernelEmbedder", path: "Tools/KernelEmbedder"),
        .plugin(
            name: "EmbedKernels",
            capability: .buildTool(),
            dependencies: ["KernelEmbedder"],
            path: "Tools/Plugins/EmbedKernels"
        ),
        .testTarget(
            name: "AtelierTests",
            dependencies: ["Atelier", "AtelierDevices", "AtelierGraph", "AtelierModels", "AtelierTraining", "CAtelier", "atelier", "AtelierBench"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
