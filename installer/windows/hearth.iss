; Inno Setup script for Hearth (Windows x64, per-user install, no admin rights).
; Built by installer\windows\build.ps1 after PyInstaller has made dist\Hearth\:
;   ISCC.exe /DAppVersion=0.1.0 installer\windows\hearth.iss
; Output: dist\hearth-<version>-windows-x64-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Hearth"
#define AppExe "Hearth.exe"
#define BundleDir "..\..\dist\Hearth"

[Setup]
; The AppId identifies the app to the uninstaller and to upgrades: never change it.
AppId={{6E7C1F2A-3B9D-4C58-9E61-2F4A8D0B7C35}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Hearth developers
AppComments=Private AI assistant over your own documents, fully offline
; Per-user: installs under %LOCALAPPDATA%\Programs\Hearth, no UAC prompt.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=hearth-{#AppVersion}-windows-x64-setup
SetupIconFile=hearth.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
; The bundle is mostly already-compressed model data and native libraries:
; lzma2 "max" is a good size/time trade-off; solid compression needs a lot of RAM.
Compression=lzma2/max
SolidCompression=no
; Close a running Hearth before upgrading or uninstalling its files.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle whole: files of an older version must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Chat with your documents, offline"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; User data (library, chats, models) lives in %LOCALAPPDATA%\Hearth, outside
; {app}: the uninstaller leaves it, as users expect of their documents' index.
